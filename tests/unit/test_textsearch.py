"""Ctrl+F's comparison: case and the encoding of accents ignored, matches mapped back to
the message's own characters."""

from __future__ import annotations

import unicodedata

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


def test_a_match_in_text_of_conjoining_jamo_is_lit_where_it_is_counted():
    """Korean pasted from macOS (NFD: "한" as the jamo ᄒ ᅡ ᆫ, which are no combining
    marks): Ctrl+F "한국" counted the message but lit nothing in it, as each lone jamo was
    folded alone and did not compose (a hunt). The same for a syllable and a final jamo, and
    for a Tamil vowel sign written in two parts."""
    text = unicodedata.normalize("NFD", "한국어 회의는 3시에")
    assert contains(text, "한국")
    assert find_spans(text, "한국") == [(0, 6)]  # ᄒ ᅡ ᆫ ᄀ ᅮ ᆨ
    assert find_spans(text, "회의") == [(9, 13)]  # after 어 (ᄋ ᅥ) and a space
    assert find_spans("하\u11ab국", "한") == [(0, 2)]  # 하 + final ᆫ
    assert find_spans("x\u0b95\u0bc6\u0bbey", "\u0b95\u0bca") == [(1, 4)]  # கொ
    assert find_spans("ab\u1100", "b") == [(1, 2)]  # (a leading jamo starts a cluster)


def test_the_model_finds_what_the_delegate_lights():
    model = ConversationModel("bob", "bob")
    for seq, text in enumerate(("see you at lunch", "Liebe Grüße, lunch?", DECOMPOSED), 1):
        model.append(ChatItem(MessageKind.OTHER, "bob", text, ts=1.0, seq=seq))
    assert model.find("LUNCH") == [1, 2]
    assert model.find("café") == [3]
