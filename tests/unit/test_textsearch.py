"""Ctrl+F's comparison: case and the encoding of accents ignored, matches mapped back to
the message's own characters."""

from __future__ import annotations

from messenger.client.models import ChatItem, ConversationModel, MessageKind
from messenger.client.textsearch import contains, find_spans

DECOMPOSED = "cafe\u0301 au lait"  # "café" as macOS pastes it: e + combining acute


def test_accents_match_however_they_are_encoded():
    assert contains(DECOMPOSED, "café") and contains("café au lait", "CAFE\u0301")
    assert find_spans(DECOMPOSED, "CAFÉ") == [(0, 5)]  # the accent mark is in the span


def test_spans_are_in_the_texts_own_characters_when_folding_changes_lengths():
    text = "Liebe Grüße, see you at lunch"
    (span,) = find_spans(text, "LUNCH")
    assert text[span[0]:span[1]] == "lunch"
    assert find_spans("Straße", "STRASSE") == [(0, 6)]
    assert find_spans("aaaa", "aa") == [(0, 2), (2, 4)]
    assert find_spans("abc", "") == [] and find_spans("abc", "x") == []


def test_the_model_finds_what_the_delegate_lights():
    model = ConversationModel("bob", "bob")
    for seq, text in enumerate(("see you at lunch", "Liebe Grüße, lunch?", DECOMPOSED), 1):
        model.append(ChatItem(MessageKind.OTHER, "bob", text, ts=1.0, seq=seq))
    assert model.find("LUNCH") == [1, 2]
    assert model.find("café") == [3]
