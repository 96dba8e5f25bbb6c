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
