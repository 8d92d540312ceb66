"""The console (staff) and, later, the preference centre (customers): server-rendered pages."""
