"""batch_ims.transport.client.tls_setting: what the connector is told to verify."""

from __future__ import annotations

import ssl
from pathlib import Path

from batch_ims.transport.client import tls_setting
from tests.e2e.tls import make_certificates


def test_default_verification_is_aiohttps_shared_verified_context() -> None:
    assert tls_setting(ca_bundle=None, insecure=False) is True


def test_insecure_without_a_bundle_verifies_nothing() -> None:
    assert tls_setting(ca_bundle=None, insecure=True) is False


def test_a_ca_bundle_gets_a_context_of_its_own_that_checks_host_names(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    context = tls_setting(ca_bundle=str(certs.ca), insecure=False)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
