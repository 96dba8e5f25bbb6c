"""Quoted replies as text: the quote line a reply starts with, and splitting it off again."""

from __future__ import annotations

from messenger.client.quotes import MAX_EXCERPT, excerpt, quote_line, reply_text, split_quote


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
