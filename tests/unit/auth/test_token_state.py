import pytest

from exact_online_sdk.auth.token import TOKEN_SCHEMA, Token

TOKEN = Token("AT-canary", "RT-canary", issued_at=1000.0, expires_at=1600.0, generation=4, writer="refresher")


def test_state_round_trips_and_timing_helpers():
    assert Token.from_state(TOKEN.to_state()) == TOKEN
    assert TOKEN.expires_in(1500.0) == 100.0
    assert TOKEN.age(1570.0) == 570.0
    assert TOKEN.replace(generation=5).generation == 5


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([], "not a JSON object"),
        ({**TOKEN.to_state(), "schema": TOKEN_SCHEMA + 1}, "unsupported token state schema"),
        ({k: v for k, v in TOKEN.to_state().items() if k != "refresh_token"}, "lacks refresh_token"),
        ({**TOKEN.to_state(), "issued_at": "yesterday"}, "wrong type"),
    ],
)
def test_bad_states_name_the_problem_and_never_the_secret(state, message):
    with pytest.raises(ValueError, match=message) as info:
        Token.from_state(state)
    assert "AT-canary" not in str(info.value)
    assert "RT-canary" not in str(info.value)
