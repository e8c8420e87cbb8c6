"""Client certificates against a real Mosquitto whose TLS listeners require them.

A SiteActor with the real PahoPort connects with a certificate our CA signed; without one,
with one from another CA, with an expired one, or to a broker whose certificate we do not
trust, the site is in ``error`` and ``error_message`` says in words which side refused and
why. Host name checking can be turned off for a broker whose certificate names another host.
Certificates are made by the test (``tls_support``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pykka
import pytest
from actor_fakes import WaitingSink, make_spec

from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy
from sitelink.actors.clock import Clock
from sitelink.actors.site import SiteActor
from sitelink.actors.site_messages import SiteSpec
from sitelink.embedded_broker import Mosquitto, free_port
from tls_support import Authority, Pair, mtls_listener

POLICY = RetryPolicy(base_s=5.0, max_s=5.0, jitter=0.1, reset_s=30.0, connect_timeout_s=3.0)


class Pki(msgspec.Struct, frozen=True):
    ca: str
    good: Pair
    expired: Pair
    stranger: Pair  # signed by another CA


class TlsBroker(msgspec.Struct, frozen=True):
    broker: Mosquitto
    port: int  # certificate names 127.0.0.1
    misnamed_port: int  # certificate names broker.example only
    pki: Pki


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    ca, other = Authority(), Authority("another CA")
    pki = Pki(ca.pem, ca.issue("site-client"), ca.issue("old-client", expired=True),
              other.issue("stranger"))
    folder: Path = tmp_path_factory.mktemp("tls")
    folder.chmod(0o755)
    port, misnamed = free_port(), free_port()
    named = mtls_listener(folder / "named", port, ca, ca.issue("127.0.0.1", server=True))
    wrong = ca.issue("broker.example")
    misnamed_lines = mtls_listener(folder / "misnamed", misnamed, ca, wrong)
    with Mosquitto(extra_config=[*named, *misnamed_lines]) as broker:
        yield TlsBroker(broker, port, misnamed, pki)


@pytest.fixture
def clock() -> Iterator[Clock]:
    real = Clock()
    yield real
    real.stop()


@pytest.fixture(autouse=True)
def stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(block=True)


def start(clock: Clock, port: int, **tls_fields: Any) -> tuple[SiteSpec, WaitingSink]:
    spec = make_spec(host="127.0.0.1", port=port, connect_timeout_s=POLICY.connect_timeout_s)
    spec = msgspec.structs.replace(
        spec, broker=msgspec.structs.replace(spec.broker, tls=True, **tls_fields))
    sink = WaitingSink()
    SiteActor.start(spec, clock=clock, sink=sink, policy=POLICY, limiter=ConnectRateLimiter(50))
    return spec, sink


def error_message(spec: SiteSpec, sink: WaitingSink) -> str:
    event = sink.wait_status(spec.site_id, "error", timeout_s=8)
    message: str = event.error_message
    return message


def test_a_client_certificate_from_our_ca_connects(tls: TlsBroker, clock: Clock) -> None:
    """CA, certificate and key given: connected over TLS with client authentication."""
    spec, sink = start(clock, tls.port, tls_ca_pem=tls.pki.ca,
                       tls_client_cert_pem=tls.pki.good.cert_pem,
                       tls_client_key_pem=tls.pki.good.key_pem)
    sink.wait_status(spec.site_id, "connected", timeout_s=8)


def test_no_client_certificate_is_refused_by_the_broker_in_words(
    tls: TlsBroker, clock: Clock
) -> None:
    """Without a certificate the broker refuses the handshake: error_message says the
    broker refused, and that it wants a client certificate."""
    spec, sink = start(clock, tls.port, tls_ca_pem=tls.pki.ca)
    message = error_message(spec, sink)
    assert message.startswith("TLS handshake refused by the broker"), message
    assert "client certificate" in message


def test_a_certificate_from_another_ca_is_refused_by_the_broker_in_words(
    tls: TlsBroker, clock: Clock
) -> None:
    """A certificate the broker's CA did not sign: the broker refused it, and says why."""
    spec, sink = start(clock, tls.port, tls_ca_pem=tls.pki.ca,
                       tls_client_cert_pem=tls.pki.stranger.cert_pem,
                       tls_client_key_pem=tls.pki.stranger.key_pem)
    message = error_message(spec, sink)
    assert message.startswith("TLS handshake refused by the broker"), message


def test_an_expired_client_certificate_says_so_with_its_date(
    tls: TlsBroker, clock: Clock
) -> None:
    """An expired certificate is not even offered: the error says it expired, and when."""
    spec, sink = start(clock, tls.port, tls_ca_pem=tls.pki.ca,
                       tls_client_cert_pem=tls.pki.expired.cert_pem,
                       tls_client_key_pem=tls.pki.expired.key_pem)
    message = error_message(spec, sink)
    assert message.startswith("TLS client certificate expired on 20"), message


def test_a_broker_certificate_we_do_not_trust_is_refused_by_us_in_words(
    tls: TlsBroker, clock: Clock
) -> None:
    """No CA given (the system's are used): sitelink refuses the broker's certificate."""
    spec, sink = start(clock, tls.port, tls_client_cert_pem=tls.pki.good.cert_pem,
                       tls_client_key_pem=tls.pki.good.key_pem)
    message = error_message(spec, sink)
    assert message.startswith("TLS certificate rejected: sitelink refused the broker's"), message


def test_host_name_checking_can_be_turned_off(tls: TlsBroker, clock: Clock) -> None:
    """A broker certificate for broker.example reached as 127.0.0.1: refused while host
    names are checked (the reason names the mismatch), accepted with tls_verify_hostname off."""
    fields = {"tls_ca_pem": tls.pki.ca, "tls_client_cert_pem": tls.pki.good.cert_pem,
              "tls_client_key_pem": tls.pki.good.key_pem}
    spec, sink = start(clock, tls.misnamed_port, **fields)
    assert "mismatch" in error_message(spec, sink).lower()
    pykka.ActorRegistry.stop_all(block=True)
    spec, sink = start(clock, tls.misnamed_port, tls_verify_hostname=False, **fields)
    sink.wait_status(spec.site_id, "connected", timeout_s=8)
