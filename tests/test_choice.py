"""Choice: an option's words as an enum, and the kit's error for a word it does not take."""

import pytest

from handler_kit import HandlerKitError
from handler_kit.reload.decision import Mode
from handler_kit.reload.memory import Memory


def test_a_word_becomes_its_member_and_a_member_stays_itself():
    assert Mode.of("hot") is Mode.HOT and Mode.of(Mode.REINIT) is Mode.REINIT
    assert Memory.of("free-first") is Memory.FREE_FIRST


def test_an_unknown_word_is_the_kits_error_naming_the_option_and_its_words():
    with pytest.raises(HandlerKitError, match="mode must be one of auto, hot, reinit, not 'hott'"):
        Mode.of("hott")
    with pytest.raises(HandlerKitError, match="Pass one of auto, swap, free-first"):
        Memory.of("both")
