"""The price table: exact names, prefix patterns, a default or a refusal."""

from __future__ import annotations

import pytest

from ext_proc.config import ConfigError, load_config
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.limits.prices import Price, PriceTable
from ext_proc.limits.settings import ModelPrice, PricesConfig

TABLE = PricesConfig(
    models={
        "example-large": ModelPrice(input_per_million=2.0, output_per_million=8.0),
        "example-*": ModelPrice(input_per_million=0.5, output_per_million=1.5),
        "example-large-*": ModelPrice(input_per_million=1.0, output_per_million=4.0),
    }
)


def test_exact_names_win_then_the_longest_pattern() -> None:
    prices = PriceTable(TABLE)
    assert prices.price("example-large") == Price(2.0, 8.0)
    assert prices.price("example-large-2026") == Price(1.0, 4.0)
    assert prices.price("example-small") == Price(0.5, 1.5)
    assert prices.price("other") is None


def test_cost_is_per_million_tokens() -> None:
    prices = PriceTable(TABLE)
    assert prices.cost("example-large", 1_000_000, 0) == 2.0
    assert prices.cost("example-large", 250_000, 125_000) == pytest.approx(0.5 + 1.0)
    assert prices.cost("example-small", 1, 1) == pytest.approx(2e-6)


def test_an_unknown_model_is_refused_without_a_default() -> None:
    with pytest.raises(ChaperoneError) as error:
        PriceTable(TABLE).cost("other", 1, 1)
    assert error.value.code is ErrorCode.PRICE_UNKNOWN


def test_the_default_prices_unknown_models() -> None:
    table = PricesConfig(models=TABLE.models, default=ModelPrice(input_per_million=3, output_per_million=6))
    assert PriceTable(table).cost("other", 1_000_000, 1_000_000) == 9.0


def test_the_configuration_shape(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "chaperone.yaml"  # type: ignore[operator]
    path.write_text(
        "limits:\n"
        "  prices:\n"
        "    currency: EUR\n"
        "    models:\n"
        "      example-large: {input_per_million: 2.0, output_per_million: 8.0}\n"
        '      "example-*": {input_per_million: 0.5, output_per_million: 1.5}\n'
        "    default: {input_per_million: 5, output_per_million: 15}\n"
    )
    config = load_config(path, environ={})
    prices = PriceTable(config.limits.prices)
    assert prices.currency == "EUR"
    assert prices.price("example-mini") == Price(0.5, 1.5)
    assert prices.price("anything") == Price(5.0, 15.0)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "limits: {prices: {models: {'a*b': {input_per_million: 1, output_per_million: 1}}}}",
            "limits.prices",
        ),
        ("limits: {prices: {models: {'*': {input_per_million: 1, output_per_million: 1}}}}", "limits.prices"),
        (
            "limits: {prices: {models: {m: {input_per_million: -1, output_per_million: 1}}}}",
            "input_per_million",
        ),
        ("limits: {prices: {models: {m: {input_per_million: 1}}}}", "output_per_million"),
        ("limits: {budgets: {reservation_ttl_seconds: 0}}", "limits.budgets.reservation_ttl_seconds"),
        ("limits: {loops: {window: 5}}", "limits.loops"),
    ],
)
def test_bad_configuration_names_the_key(
    tmp_path: pytest.TempPathFactory, yaml_text: str, message: str
) -> None:
    path = tmp_path / "chaperone.yaml"  # type: ignore[operator]
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert message in str(error.value)


def test_environment_overrides_reach_the_section() -> None:
    config = load_config(
        None,
        environ={
            "CHAPERONE_LIMITS__KILL_SWITCH__REFRESH_INTERVAL_SECONDS": "0.5",
            "CHAPERONE_LIMITS__KEY_PREFIX": '"prod:"',  # a YAML scalar: quoted, or it reads as a mapping
        },
    )
    assert config.limits.kill_switch.refresh_interval_seconds == 0.5
    assert config.limits.key_prefix == "prod:"
