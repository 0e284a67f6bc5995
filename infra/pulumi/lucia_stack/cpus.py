"""CPU limits as pulumi-docker writes them back, so that a second `pulumi up` is a no-op.

`cpus` is ForceNew in the provider, and its Read stores
`nanoInt64ToDecimalString(HostConfig.NanoCpus)` (kreuzwerker v4.5.0 helpers.go:131-149):
"1" comes back as "1.0". A program that sends "1" would replace its containers on every
`up`. So the program sends exactly the string Read produces, and the stack config refuses
the few values that cannot round-trip (e.g. 0.05 reads back as "0.1", 10 as "10.")."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

NANO = 10**9


def parse_cpus(value: Any) -> int:
    """docker/cli opts.ParseCPUs (used by the provider's Create): decimal to NanoCPUs."""
    nanos = Fraction(str(value)) * NANO
    if nanos.denominator != 1:
        raise ValueError(f"cpus {value!r} has more precision than a nanocpu")
    return int(nanos)


def float_string(rat: Fraction, digits: int) -> str:
    """Go's big.Rat.FloatString: rounded half away from zero to `digits` decimals."""
    scaled = abs(rat) * 10**digits
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    sign = "-" if rat < 0 else ""
    if not digits:
        return f"{sign}{whole}"
    integer, fraction = divmod(whole, 10**digits)
    return f"{sign}{integer}.{fraction:0{digits}d}"


def nano_to_decimal_string(nanos: int) -> str:
    """nanoInt64ToDecimalString, line for line."""
    if nanos == 0:
        return "0"
    rat = Fraction(nanos, NANO)
    text = float_string(rat, 9)
    # "a round value like 100000000": exactly nine zeros in the 9-digit form.
    if text.count("0") == 9:
        return float_string(rat, 1)
    return text.rstrip("0")


def read_back(value: Any) -> str:
    """What the provider's Read stores for a `cpus` input."""
    return nano_to_decimal_string(parse_cpus(value))


def provider_cpus(cpus: float) -> str:
    """The `cpus` input for a limit: the read-back form, refused if it is a different
    amount of CPU (the container would get one value and the state another)."""
    text = read_back(repr(float(cpus)))
    if Fraction(text) != Fraction(repr(float(cpus))):
        raise ValueError(f"{cpus:g} CPUs would be read back by pulumi-docker as {text!r} "
                         "and the container replaced on every `pulumi up`; choose a value "
                         f"such as {float(Fraction(text)):g}")
    return text
