"""HTTPS flows reach the analysis worker whole: certificates included, without the slow snapshot path."""

from __future__ import annotations

import asyncio
import copyreg
import io
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import certs
from mitmproxy import io as mitm_io
from mitmproxy.test import taddons, tflow

from auditor.sources.mitmflows import pickle_reducers

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "addons"))

import classroom_auditor  # noqa: E402


@pytest.fixture(scope="module")
def certificate_store(tmp_path_factory: pytest.TempPathFactory) -> certs.CertStore:
    """A fresh mitmproxy CA (as mitmproxy makes one in its confdir) to mint real certificates."""
    return certs.CertStore.from_store(tmp_path_factory.mktemp("confdir"), "mitmproxy", 2048)


def https_flow(store: certs.CertStore, host: str) -> Any:
    """A finished HTTPS flow holding certificates, as mitmproxy hands it to ``response``."""
    flow = tflow.tflow(resp=True)
    flow.request.scheme = "https"
    flow.request.host = host
    flow.request.port = 443
    flow.request.headers["host"] = host
    flow.request.path = "/g/collect?lat=52.370216&lon=4.895168"
    leaf = store.get_cert(host, [])
    flow.server_conn.certificate_list = [leaf.cert, store.default_ca]
    flow.client_conn.mitmcert = leaf.cert
    return flow


def test_flows_with_certificates_pickle_with_the_reducers(certificate_store: certs.CertStore) -> None:
    flow = https_flow(certificate_store, "app-measurement.com")
    with pytest.raises(TypeError):
        pickle.dumps(flow)  # why the reducers exist: a certificate cannot be pickled as it is
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, **pickle_reducers()}
    pickler.dump(flow)
    copy = pickle.loads(buffer.getvalue())
    assert copy.server_conn.certificate_list == flow.server_conn.certificate_list
    assert copy.client_conn.mitmcert == flow.client_conn.mitmcert
    assert copy.get_state() == flow.get_state()


def test_https_flow_is_saved_with_its_certificates_and_analysed(
    tmp_path: Path, auditor_env: dict[str, str], certificate_store: certs.CertStore
) -> None:
    folder = tmp_path / "session"
    flow = https_flow(certificate_store, "app-measurement.com")
    state_before = flow.get_state()

    async def run() -> None:
        addon = classroom_auditor.ClassroomAuditor()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, auditor_session=str(folder), auditor_report_interval=0)
            addon.response(flow)
            addon.done()
        assert addon.errors == 0

    asyncio.run(run())
    with (folder / "flows.mitm").open("rb") as handle:
        (saved,) = list(mitm_io.FlowReader(handle).stream())
    assert saved.server_conn.certificate_list == flow.server_conn.certificate_list
    assert saved.client_conn.mitmcert == flow.client_conn.mitmcert
    assert saved.request.get_state() == state_before["request"]
    records = (folder / "records.jsonl").read_text().splitlines()
    assert len(records) == 1 and "app-measurement.com" in records[0]
