"""Quoted replies as text: the quote line a reply starts with, and splitting it off again."""

from __future__ import annotations

from messenger.client.quotes import (
    MAX_EXCERPT,
    QuoteCandidate,
    QuoteOutcome,
    QuoteTarget,
    excerpt,
    find_quoted,
    quote_line,
    quoted_of,
    reply_text,
    split_quote,
)
from messenger.protocol import RETRACTED_TEXT


def test_a_reply_starts_with_one_quote_line_naming_the_sender():
    text = reply_text("bob", "see you\n  at 5?", "on my way")
    assert text == "> bob: see you at 5?\non my way"
    assert split_quote(text) == ("bob: see you at 5?", "on my way")


def test_a_reply_to_a_reply_quotes_only_the_answer():
    first = reply_text("bob", "see you at 5?", "on my way")
    assert quote_line("alice", first) == "> alice: on my way"


def test_a_long_text_is_cut_at_a_word_with_an_ellipsis():
    words = "word " * 60
    cut = excerpt(words)
    assert len(cut) <= MAX_EXCERPT and cut.endswith("word…")
    assert excerpt("x" * 300) == "x" * (MAX_EXCERPT - 1) + "…"  # no space: cut anywhere
    assert excerpt("short") == "short"


def test_split_quote_takes_only_leading_quote_lines():
    assert split_quote("plain > not a quote") == ("", "plain > not a quote")
    assert split_quote(">one\n> two\nbody\n> later") == ("one\ntwo", "body\n> later")
    # Nothing after the quote: shown as typed, not as an empty bubble with a quote.
    assert split_quote("> only a quote") == ("", "> only a quote")
    assert split_quote("> q\n\n  ") == ("", "> q\n\n  ")
    assert split_quote("") == ("", "")


def test_a_cut_never_splits_a_character_drawn_from_several_code_points():
    """A quoted flag showed as a lone letter box ("🇫…"), an "é" typed as e + accent lost its
    accent, a family emoji became a man: the excerpt was cut between the code points of one
    character, and the reply kept that for good."""
    pad = "x" * (MAX_EXCERPT - 2)  # the cut falls inside the character after it
    assert excerpt(pad + "🇫🇷 ok") == pad + "…"
    assert excerpt(pad + "e\u0301 ok") == pad + "…"
    assert excerpt(pad + "👍🏽 ok") == pad + "…"
    assert excerpt(pad[:-1] + "a👨\u200d👩\u200d👧 ok") == pad[:-1] + "a…"
    assert excerpt(pad + "\u1112\u1161\u11ab ok") == pad + "…"  # "한" as conjoining jamo
    flags = "🇫🇷🇩🇪🇮🇹" * 30  # pairs: the cut is between two of them, not inside one
    assert excerpt(flags) == flags[:MAX_EXCERPT - 2] + "…"
    # One character longer than the excerpt (a letter under 200 accents) is still cut.
    assert excerpt("a" + "\u0301" * 200) == ("a" + "\u0301" * 200)[:MAX_EXCERPT - 1] + "…"


# -- going to the quoted message (a click on a reply's quote block)

def _c(seq: int, sender: str, text: str, edited: float | None = None) -> QuoteCandidate:
    return QuoteCandidate(seq, sender, text, edited)


def test_quoted_of_reads_the_sender_and_excerpt_of_a_reply_only():
    assert quoted_of(reply_text("bob", "see you\nat 5?", "ok")) == ("bob", "see you at 5?")
    assert quoted_of("plain text") is None
    assert quoted_of("> two\n> lines\nbody") is None  # typed by hand, as in e-mail
    assert quoted_of("> no sender here\nbody") is None
    assert quoted_of("> not a name!: x\nbody") is None


def test_the_quote_points_to_the_newest_message_before_the_reply_saying_it():
    """Two messages with the same excerpt: the newest one before the reply (never another
    sender's with the same words)."""
    reply = reply_text("bob", "see you at 5?", "on my way")
    older_first = [_c(9, "alice", "see you at 5?"), _c(7, "bob", "see you at 5?"),
                   _c(3, "bob", "see you at 5?"), _c(2, "bob", "something else")]
    assert find_quoted(reply, 100.0, older_first) == QuoteTarget(QuoteOutcome.FOUND, 7)
    assert find_quoted(reply.replace("bob", "BOB", 1), 100.0, older_first).seq == 7


def test_an_edited_message_is_found_by_its_current_text_and_a_long_one_by_its_excerpt():
    long = "word " * 60
    reply = reply_text("bob", long, "yes")
    assert find_quoted(reply, 100.0, [_c(4, "bob", long, edited=50.0)]).seq == 4
    assert find_quoted(reply_text("bob", "new", "ok"), 100.0,
                       [_c(4, "bob", "new", edited=150.0)]).outcome is QuoteOutcome.FOUND


def test_a_quote_of_an_older_text_says_so_and_points_to_the_one_edited_since():
    """The reply quoted "at 5"; bob changed it to "at 6" afterwards: the message is that
    one, and the status bar says it reads differently now."""
    reply = reply_text("bob", "at 5", "ok")
    target = find_quoted(reply, 100.0, [_c(8, "bob", "at 6", edited=120.0),
                                        _c(6, "bob", "earlier", edited=90.0)])
    assert target == QuoteTarget(QuoteOutcome.EDITED, 8)
    assert "edited after this reply" in target.status()
    # Two of bob's edited since: which one was quoted is not known; no guess.
    two = [_c(8, "bob", "at 6", edited=120.0), _c(5, "bob", "hm", edited=130.0)]
    assert find_quoted(reply, 100.0, two) == QuoteTarget(QuoteOutcome.GONE)
    # One edited since, one deleted: the deleted one may have been it.
    deleted = [_c(8, "bob", "at 6", edited=120.0), _c(5, "bob", RETRACTED_TEXT)]
    assert find_quoted(reply, 100.0, deleted) == QuoteTarget(QuoteOutcome.GONE)


def test_a_deleted_or_unknown_quoted_message_is_not_found():
    reply = reply_text("bob", "see you at 5?", "ok")
    gone = find_quoted(reply, 100.0, [_c(3, "bob", RETRACTED_TEXT), _c(2, "bob", "other")])
    assert gone == QuoteTarget(QuoteOutcome.GONE)
    assert gone.status() == "The quoted message is not in this conversation's history any more"
    # The quoted one deleted (or changed since the reply), an older one saying the same:
    # that one may not be it; no jump.
    for newer in (_c(3, "bob", RETRACTED_TEXT), _c(3, "bob", "changed", edited=150.0)):
        unsure = find_quoted(reply, 100.0, [newer, _c(2, "bob", "see you at 5?")])
        assert unsure == QuoteTarget(QuoteOutcome.UNSURE) and "deleted" in unsure.status()
    # Edited before the reply, or someone else's deleted: no doubt.
    for newer in (_c(3, "bob", "changed", edited=50.0), _c(3, "carol", RETRACTED_TEXT)):
        assert find_quoted(reply, 100.0, [newer, _c(2, "bob", "see you at 5?")]).seq == 2
    assert find_quoted("no quote here", 100.0, [_c(1, "bob", "no quote here")]).seq is None
    assert find_quoted(reply, 100.0, []).outcome is QuoteOutcome.GONE
