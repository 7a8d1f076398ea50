"""The IVR put together: SIP endpoint, menu sessions, prompts and the ticket backend.

``hotline ivr`` runs it as a process of its own (:func:`run_ivr`); ``hotline serve`` runs it
beside the web when ``HOTLINE_IVR_IN_SERVE`` is set (``web.wiring.start_components`` calls
:func:`start_ivr`). Either way pyVoIP's call threads run the menu
(:func:`softphone_bridge.ivr.session.run_call`) and everything that touches the database
runs on this process's event loop through :class:`web.ivr_backend.LoopIvrBackend`.

The caller who presses 0 is moved by an AMI ``Redirect`` (:func:`make_transfer`): with the
bridge in this process, by the call id (the bridge's live model knows the caller's channel);
without it, over a short AMI connection of its own (:mod:`telephony.oneshot`) to the channel
the dialplan named in ``X-Hotline-Channel``. With no PBX at all the menu offers a call-back.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from zoneinfo import ZoneInfo

from softphone_bridge.audio import AudioError, SynthesisError
from softphone_bridge.ivr.ports import CallChannel, CallInfo, IvrBackend, PromptBook
from softphone_bridge.ivr.prompts import EspeakPromptBook
from softphone_bridge.ivr.session import run_call
from softphone_bridge.sip import IvrEndpoint
from telephony import ActionFailed, CallNotFound, PbxUnavailable, Telephony
from telephony.oneshot import run_action
from telephony.ports import PbxConfig, parse_ami_urls

from .ivr_backend import LoopIvrBackend
from .settings import Settings

log = logging.getLogger("hotline.ivr")


class Outcomes:
    """Calls ended, by journey outcome (``agent``, ``hangup``, ``done``, ``busy``): counted
    by the call threads, read by ``/readyz`` and ``/metrics``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] = self._counts.get(outcome, 0) + 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


@dataclass
class IvrRuntime:
    """A running IVR: stop it with :meth:`stop` (hangs up calls in progress)."""

    endpoint: IvrEndpoint
    prompts: EspeakPromptBook
    backend: LoopIvrBackend
    outcomes: Outcomes = field(default_factory=Outcomes)

    async def stop(self) -> None:
        await asyncio.to_thread(self.endpoint.stop)

    def state(self) -> dict[str, object]:
        """For ``/readyz``: on, the calls in progress and the limit, calls answered and
        refused (486) since start, calls ended by outcome."""
        return {"enabled": True, "calls": self.endpoint.active_calls,
                "max_calls": self.endpoint.max_calls, "direct": self.endpoint.direct,
                "answered": self.endpoint.answered, "refused": self.endpoint.refused,
                "ended": self.outcomes.counts()}


def make_transfer(loop: asyncio.AbstractEventLoop, settings: Settings,
                  telephony: Telephony | None, pbxs: list[PbxConfig],
                  timeout_s: float = 8.0) -> Callable[[CallInfo], bool]:
    """The backend's ``transfer_to_agent``: blocking, for a call thread; ``False`` when no
    PBX took the caller (the menu then offers a call-back)."""
    context, exten = settings.ivr_agent_context, settings.ivr_agent_exten

    async def redirect(info: CallInfo) -> bool:
        if telephony is not None and info.call_id is not None:
            try:
                await telephony.redirect(info.call_id, context, exten)
                return True
            except (CallNotFound, ActionFailed, PbxUnavailable) as exc:
                log.warning("IVR transfer of %s by call id failed: %s", info.call_id, exc)
        if info.channel and (telephony is not None or pbxs):
            if telephony is not None:
                target = f"{info.channel}@{info.pbx}" if info.pbx else info.channel
                await telephony.redirect(target, context, exten)
                return True
            config = next((p for p in pbxs if p.name == info.pbx), pbxs[0])
            await run_action(config, {"Action": "Redirect", "Channel": info.channel,
                                      "Context": context, "Exten": exten, "Priority": "1"})
            return True
        return False

    def transfer(info: CallInfo) -> bool:
        try:
            return asyncio.run_coroutine_threadsafe(redirect(info), loop).result(timeout_s)
        except Exception as exc:  # the caller hears the call-back offer instead
            log.warning("IVR transfer of %s failed: %s: %s", info.call_ref,
                        type(exc).__name__, exc)
            return False

    return transfer


async def start_ivr(settings: Settings, backend: LoopIvrBackend,
                    prompts: EspeakPromptBook | None = None) -> IvrRuntime:
    """Synthesize (or load) every fixed prompt, then open the SIP endpoint.

    ``prompts``: the prompt book to use (default: one cached under
    ``<data_dir>/ivr-prompts`` with ``HOTLINE_IVR_PROMPTS_DIR``'s recordings). Raises
    ``OSError`` when the SIP port cannot be bound and
    :class:`softphone_bridge.audio.SynthesisError` when espeak-ng is missing.
    """
    if prompts is None:
        prompts = EspeakPromptBook(settings.data_dir / "ivr-prompts", settings.ivr_prompts_dir,
                                   tz=ZoneInfo(settings.timezone))
    warmed = await asyncio.to_thread(prompts.warm)
    log.info("IVR prompts ready (%d fixed prompts, zh and en)", warmed)
    language = settings.ivr_language
    outcomes = Outcomes()
    on_call = partial(_serve_call, backend=backend, prompts=prompts, language=language,
                      digit_timeout_s=settings.ivr_digit_timeout_s,
                      message_max_s=float(settings.ivr_message_max_s), outcomes=outcomes)
    host, port = settings.ivr_server_host_port
    endpoint = IvrEndpoint(host, port, bind=settings.ivr_bind, sip_port=settings.ivr_sip_port,
                           user=settings.ivr_user, password=settings.ivr_password,
                           rtp_ports=settings.ivr_rtp_range, max_calls=settings.ivr_max_calls,
                           on_call=on_call, on_busy=partial(on_call, busy=True),
                           busy_audio=lambda info: prompts.prompt("busy", language))
    await asyncio.to_thread(endpoint.start)
    log.info("IVR listening on %s:%d for %s:%d (%s)", settings.ivr_bind, settings.ivr_sip_port,
             host, port, "registering" if settings.ivr_password else "direct mode")
    return IvrRuntime(endpoint, prompts, backend, outcomes)


def _serve_call(channel: CallChannel, *, backend: IvrBackend, prompts: PromptBook,
                language: str, digit_timeout_s: float, message_max_s: float,
                busy: bool = False, outcomes: Outcomes | None = None) -> None:
    """One call's menu (``busy``: over the limit — the busy prompt, journey ``busy``)."""
    info = channel.info
    log.info("IVR call %s from %s (%s)", info.call_id or info.call_ref[:12],
             masked(info.caller), "busy" if busy else info.mode)
    journey = run_call(channel, backend, prompts, language="en" if language == "en" else "zh",
                       digit_timeout_s=digit_timeout_s, message_max_s=message_max_s, busy=busy)
    if outcomes is not None:
        outcomes.add(journey.outcome)
    last = journey.steps[-1].at_s if journey.steps else 0.0
    log.info("IVR call %s ended: %s after %.0f s, %d steps (%s)",
             info.call_id or info.call_ref[:12], journey.outcome, last, len(journey.steps),
             " ".join(step.kind for step in journey.steps[-8:]) or "-")


def masked(number: str) -> str:
    """A caller's number for a log line: ``138****8000`` (who, roughly; not the number):
    never more than half of it shown (a 7–10 digit local number keeps its last 3–4)."""
    digits = number.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    head = 3 if len(digits) >= 11 else 0
    tail = 4 if len(digits) >= 8 else 3
    return f"{digits[:head]}{'*' * (len(digits) - head - tail)}{digits[-tail:]}"


def pbx_configs(settings: Settings) -> list[PbxConfig]:
    """The PBXs a standalone IVR may redirect callers on (none when the URL is bad)."""
    if not settings.ami_url:
        return []
    try:
        return parse_ami_urls(settings.ami_url)
    except ValueError as exc:
        log.error("HOTLINE_AMI_URL is invalid: the IVR cannot hand callers to agents: %s", exc)
        return []


async def run_ivr(settings: Settings) -> int:
    """``hotline ivr``: the IVR alone, until SIGINT/SIGTERM."""
    from asr.engine import AsrError, ModelError, VoskEngine
    from tickets.db import make_engine, make_sessionmaker
    from tickets.routing.service import Router, RuleBook

    from .wiring import make_outbox

    loop = asyncio.get_running_loop()
    engine = make_engine(settings.async_database_url)
    asr = None
    if settings.vosk_model:
        try:
            asr = await VoskEngine.load(settings.vosk_model,
                                        frames_per_chunk=settings.asr_frames_per_chunk)
        except (AsrError, ModelError, OSError) as exc:
            log.error("voice messages are kept without a transcript: %s", exc)
    db = make_sessionmaker(engine)
    backend = LoopIvrBackend(
        loop, db, store=settings.data_dir / "attachments", max_bytes=settings.attachment_max_bytes,
        allowed_types=settings.attachment_types, region=settings.default_region,
        default_language=settings.ivr_language,
        support_queue=settings.ivr_queue, engine=asr,
        transfer=make_transfer(loop, settings, None, pbx_configs(settings)),
        # presence unknown here: the bridge's process knows who is paused
        router=Router(RuleBook(), settings.timezone), notify=make_outbox(settings))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runtime = await start_ivr(settings, backend)
    except OSError as exc:
        log.error("the IVR cannot listen on %s:%d: %s", settings.ivr_bind,
                  settings.ivr_sip_port, exc)
        await engine.dispose()
        return 1
    except (SynthesisError, AudioError) as exc:  # espeak-ng missing, a voice missing
        log.error("the IVR cannot say its prompts: %s", exc)
        await engine.dispose()
        return 1
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        await engine.dispose()
    return 0
