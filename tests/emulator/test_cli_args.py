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


def test_new_options_reach_the_config() -> None:
    args = build_parser().parse_args(
        [
            "--token-daily-limit",
            "none",
            "--error-quota",
            "10",
            "--readonly-fields",
            "reject",
            "--mandatory-fields",
            "documented",
            "--top-envelope",
            "results",
            "--allowed-host",
            "emulator",
            "--webhook-host",
            "hooks.corp.nl",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.token_daily_limit is None
    assert cfg.error_quota == 10
    assert (cfg.readonly_fields, cfg.mandatory_fields, cfg.top_envelope) == ("reject", "documented", "results")
    assert (cfg.allowed_hosts, cfg.webhook_hosts) == (("emulator",), ("hooks.corp.nl",))
    defaults = config_from_args(build_parser().parse_args([]))
    assert (defaults.token_daily_limit, defaults.error_quota, defaults.readonly_fields) == (200, None, "ignore")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--error-quota", "many"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--divisions", ","])
    with pytest.raises(SystemExit):
        config_from_args(build_parser().parse_args(["--client-id", "a", "--client-id", "b", "--client-secret", "s"]))


def test_help_lists_every_option_with_its_text(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser("exact-online emulator")
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "Usage: exact-online emulator [OPTIONS]" in out
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in out, flag
        assert action.help
    assert "[ignore|reject]" in out  # choices shown, not swallowed as markup
    assert "1001,1002" in out  # defaults are shown


def test_main_serves_the_parsed_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from exact_online_sdk.emulator import cli_args, server

    served: dict[str, object] = {}

    def fake_serve(config: object, **kw: object) -> None:
        served.update(config=config, **kw)
        raise KeyboardInterrupt  # Ctrl-C ends the run quietly

    monkeypatch.setattr(server, "serve", fake_serve)
    cli_args.main(["--port", "0", "--divisions", "5", "--host", "127.0.0.1"])
    assert served["port"] == 0
    assert served["config"].divisions == (5,)  # type: ignore[attr-defined]
    with pytest.raises(SystemExit):
        cli_args.main(["--rows", "-1"])  # EmulatorConfig refuses it: an error line, not a traceback


def test_config_refuses_unknown_choices_and_old_module_names_still_work() -> None:
    import warnings

    from exact_online_sdk.emulator import EmulatorConfig

    for field in ("readonly_fields", "mandatory_fields", "top_envelope"):
        with pytest.raises(ValueError, match=field):
            EmulatorConfig(**{field: "bogus"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from exact_online_sdk.emulator import odata, rest, store
        from exact_online_sdk.emulator.catalog import catalog
        from exact_online_sdk.emulator.exceptions import ApiError

        assert rest.ApiError is ApiError
        assert odata.compile_filter is not None
        assert store.table_path_for(catalog().get("sync/CRM/Accounts")) == "crm/Accounts"  # type: ignore[arg-type]
    assert len([w for w in caught if issubclass(w.category, DeprecationWarning)]) == 3
    with pytest.raises(AttributeError):
        rest.nope  # noqa: B018
    with pytest.raises(AttributeError):
        odata.nope  # noqa: B018
