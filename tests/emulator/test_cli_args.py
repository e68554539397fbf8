from __future__ import annotations

import pytest

from exact_online_sdk.emulator.cli_args import build_parser, config_from_args


def test_command_line_contract_builds_config() -> None:
    args = build_parser().parse_args(
        [
            "--client-id",
            "abc",
            "--client-secret",
            "s3",
            "--redirect-uri",
            "https://x/cb",
            "--webhook-secret",
            "w",
            "--divisions",
            "1001,1002",
            "--auto-consent",
            "--seed",
            "4",
            "--rows",
            "10",
            "--minutely-limit",
            "5",
            "--daily-limit",
            "50",
            "--token-lifetime",
            "300",
            "--clock-scale",
            "60",
            "--port",
            "0",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.clients == {"abc": "s3"}
    assert cfg.divisions == (1001, 1002)
    assert (cfg.minutely_limit, cfg.daily_limit, cfg.token_lifetime, cfg.clock_scale) == (5, 50, 300.0, 60.0)
    assert "s3" not in repr(cfg)
    assert "'w'" not in repr(cfg)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--divisions", "a,b"])
