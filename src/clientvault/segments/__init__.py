"""Segments: a rule language compiled to SQL, stored segments and their live membership,
RFM groups and personas."""
