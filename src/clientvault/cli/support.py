"""``clientvault support``: agents, tickets, the knowledge base and the chatbot from the
command line (as the system principal ``cli``; only ``train-categories`` decrypts personal data,
the tickets' text, through the audited path under the classifier's own principal)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from clientvault.cli.common import DataDirOption, console, load_settings, opened_store
from clientvault.demo.support import kb_articles
from clientvault.security.accounts import user_by_email
from clientvault.support import categories, chatbot, kb, tickets
from clientvault.support.agents import AgentProfile, list_agents, set_agent

support_app = typer.Typer(
    help="Support: agents, tickets, knowledge base, chatbot.", no_args_is_help=True
)


@support_app.command("agent")
def agent_command(
    email: str = typer.Argument(..., help="The member of staff's sign-in e-mail."),
    skills: str = typer.Option("", help="Ticket categories they handle, comma-separated."),
    languages: str = typer.Option("en", help="Languages they answer in, comma-separated."),
    capacity: int = typer.Option(5, min=1, max=200, help="Open tickets at once."),
    hours: str = typer.Option("9-18", help="Working hours, START-END (installation time)."),
    weekdays: str = typer.Option("12345", help="ISO weekdays worked (1 = Monday)."),
    inactive: bool = typer.Option(False, "--inactive", help="Take them out of routing."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Make a member of staff a support agent, or change their profile."""
    start, _, end = hours.partition("-")
    if not (start.isdigit() and end.isdigit()):
        raise typer.BadParameter("hours look like 9-18", param_hint="--hours")
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.sessions.begin() as session:
        set_agent(
            session,
            user_id=user_by_email(session, email).id,
            profile=AgentProfile(
                skills=tuple(skills.split(",")),
                languages=tuple(languages.split(",")),
                capacity=capacity,
                start_hour=int(start),
                end_hour=int(end),
                weekdays=weekdays,
                active=not inactive,
            ),
        )
    console.print(f"{email} is an agent ({capacity} tickets, {hours}, days {weekdays}).")


@support_app.command("agents")
def agents_command(data_dir: Path | None = DataDirOption) -> None:
    """The agents and their routing profile."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        rows = list_agents(session)
        table = Table("agent", "skills", "languages", "capacity", "hours", "days", "active")
        for agent, user in rows:
            table.add_row(
                user.email,
                ", ".join(agent.skills),
                ", ".join(agent.languages),
                str(agent.capacity),
                f"{agent.start_hour}-{agent.end_hour}",
                agent.weekdays,
                "yes" if agent.active else "no",
            )
    console.print(table if rows else "No agents.")


@support_app.command("tickets")
def tickets_command(
    queued: bool = typer.Option(False, "--queued", help="Only those waiting for an agent."),
    limit: int = typer.Option(50, min=1, max=1000),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Tickets, newest first (no conversation: that needs the console or the API)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        found = tickets.list_tickets(session, queued=queued, limit=limit)
        table = Table("ticket", "status", "priority", "category", "opened", "assignment")
        for t in found:
            table.add_row(
                t.external_id or str(t.id),
                t.status,
                t.priority,
                t.category or "—",
                f"{t.created_at:%Y-%m-%d %H:%M}",
                t.assignment_reason or "—",
            )
    console.print(table if found else "No tickets.")


@support_app.command("kb-seed")
def kb_seed_command(data_dir: Path | None = DataDirOption) -> None:
    """Add the sample knowledge base (an online shop's frequent questions, EN and FR)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.sessions.begin() as session:
        added = kb.seed_articles(session, kb_articles())
    console.print(f"{added} article(s) added.")


@support_app.command("ask")
def ask_command(
    question: str = typer.Argument(..., help="A question, as a visitor would type it."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """What the chatbot would answer (or that it would hand over), with its confidence."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.read_sessions() as session:
        reply = chatbot.answer(session, question, threshold=settings.support.chatbot_threshold)
    if reply.handover:
        console.print(f"Hand-over to a human ({reply.reason}; confidence {reply.confidence:.2f}).")
    else:
        console.print(f"[bold]{reply.title}[/bold] (confidence {reply.confidence:.2f})")
        console.print(reply.answer or "", highlight=False)


@support_app.command("train-categories")
def train_categories_command(data_dir: Path | None = DataDirOption) -> None:
    """Retrain the ticket category suggestions now (the worker does it daily)."""
    settings = load_settings(data_dir)
    with opened_store(settings) as store, store.sessions.begin() as session:
        done = categories.train(session, store)
    counts = ", ".join(f"{c} {n}" for c, n in sorted(done.categories.items())) or "none"
    if not done.trained:
        console.print(f"No model: {done.reason} (closed tickets per category: {counts}).")
        return
    accuracy = "—" if done.accuracy is None else f"{done.accuracy:.0%}"
    console.print(
        f"Trained on {done.tickets} closed tickets ({counts}); hold-out accuracy {accuracy}."
    )
