#!/usr/bin/env python3
"""mjsim -- a simulated Midjourney-proxy ("midjourney-proxy" contract) upstream.

Used by the ngx_mj demo and test suite.  Python 3 standard library only.
See sim/README.md for flags, endpoints, control endpoints and failure modes.
"""

import argparse
import binascii
import codecs
import functools
import gzip
import hashlib
import hmac
import itertools
import json
import math
import os
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

VERSION = "1.0"

# Prompts containing one of these words (case-insensitive, whole word) are
# refused with code 24.
BANNED_WORDS = ("bannedword", "gore", "nsfw", "nude")

# Prompts containing the whole word "fail" end in FAILURE; "stuck" never leave
# SUBMITTED (the classic "stuck task" complaint).
FAIL_RE = re.compile(r"\bfail\b", re.I)
STUCK_RE = re.compile(r"\bstuck\b", re.I)
BANNED_RES = [(w, re.compile(r"\b" + re.escape(w) + r"\b", re.I)) for w in BANNED_WORDS]

# Lifecycle, in milliseconds before --time-scale is applied.
T_SUBMITTED = 500.0
T_START = 1000.0
T_RUN = 5000.0
T_FAIL = 3500.0  # FAILURE happens halfway through the progress
T_FINISH = T_START + T_RUN

UNFINISHED = ("NOT_START", "SUBMITTED", "IN_PROGRESS")

BODY_RECORD_MAX = 64 * 1024  # body text kept per recorded request
SEARCH_FULL_MAX = 1024 * 1024  # bodies up to this size are fully searchable by /_sim/seen
MAX_BODY = 256 * 1024 * 1024

ACCOUNTS = [
    {
        "id": "1118138338562560102",
        "name": "sim-account-1",
        "channelId": "1118138338562560102",
        "guildId": "1118138338101190717",
        "userToken": "SIMULATED-DISCORD-USER-TOKEN.MTExODEzODMzODU2MjU2MDEwMg.never-relay-me",
        "botToken": "SIMULATED-DISCORD-BOT-TOKEN.sim1.never-relay-me",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) mjsim",
        "enable": True,
        "coreSize": 3,
        "queueSize": 10,
        "timeoutMinutes": 5,
        "remixAutoSubmit": False,
        "properties": {"email": "sim-account-1@example.invalid"},
    },
    {
        "id": "1208791133367107654",
        "name": "sim-account-2",
        "channelId": "1208791133367107654",
        "guildId": "1208791132901213201",
        "userToken": "SIMULATED-DISCORD-USER-TOKEN.MTIwODc5MTEzMzM2NzEwNzY1NA.never-relay-me",
        "botToken": "SIMULATED-DISCORD-BOT-TOKEN.sim2.never-relay-me",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) mjsim",
        "enable": True,
        "coreSize": 3,
        "queueSize": 10,
        "timeoutMinutes": 5,
        "remixAutoSubmit": False,
        "properties": {"email": "sim-account-2@example.invalid"},
    },
]

DATA_URL_RE = re.compile(r"^data:([A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+);base64,")
IMAGE_RE = re.compile(r"^/images/([A-Za-z0-9]{1,64})(_preview)?\.png$")
MJ_RE = re.compile(r"^/(?:mj-(fast|relax|turbo)/)?mj(/.*)$")
KNOWN_MODES = ("garbage", "html500", "json500", "502", "503", "401", "403",
               "chunked", "split", "close", "close-after", "gzip", "truncated",
               "cut", "badchunk", "headers-only", "early-end", "quote-key",
               "set-cookie")
CONTENT_MODES = ("garbage", "html500", "json500", "502", "503", "401", "403", "close")

# Every body field the sim reads, at any depth.  The lenient parser binds an
# object's keys to these names (see "Parser modes" in sim/README.md).
FIELD_NAMES = ("prompt", "base64Array", "botType", "state", "notifyHook", "accountFilter",
               "instanceId", "taskId", "customId", "enableRemix", "dimensions", "base64",
               "link", "maskBase64", "action", "index", "content", "ids", "sourceBase64",
               "targetBase64", "image")
# The bound fields a request record shows (not the images: they can be 40 MB).
BOUND_FIELDS = ("taskId", "customId", "content", "ids", "notifyHook", "accountFilter", "prompt")
PARSERS = ("strict", "lenient")
LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def now_ms():
    return time.time() * 1000.0


def jtext(obj):
    """Compact JSON text.  A lone surrogate (the lenient parser keeps them) is
    written as a \\u escape: UTF-8 cannot carry it."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return LONE_SURROGATE_RE.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def jdump(obj):
    return jtext(obj).encode("utf-8")


# --------------------------------------------------------------------------
# The lenient parser: keys bound the way Jackson, Go and .NET bind them

def fold(s):
    """Unicode simple case folding, approximated: each character upper-cased,
    then lower-cased.  The Kelvin sign U+212A folds to "k" (as in Go), the
    long s U+017F to "s" (Go) and the dotless i U+0131 to "i" (.NET)."""
    return "".join(c.upper().lower() for c in s)


FOLDED_FIELDS = {fold(n): n for n in FIELD_NAMES}


def lenient_utf8(err):
    """A codecs error handler that decodes what Jackson decodes: over-long
    2/3/4-byte forms and UTF-8-encoded surrogates.  It returns them as \\u
    escapes, so that inside a JSON string they are the character, and outside
    one a syntax error, as in Jackson.  Any other bad byte becomes U+FFFD, as
    in Go."""
    b, i = err.object, err.start
    lead = b[i]
    n = 2 if 0xC0 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF7 else 0
    seq = b[i:i + n]
    if n and len(seq) == n and all(0x80 <= c <= 0xBF for c in seq[1:]):
        cp = lead & (0x7F >> n)
        for c in seq[1:]:
            cp = (cp << 6) | (c & 0x3F)
        if cp < 0x10000:  # over-long, or a surrogate; not above U+10FFFF
            return "\\u%04x" % cp, i + n
    return "\ufffd", i + 1


codecs.register_error("mjsim-lenient", lenient_utf8)


def parse_body(text, lenient):
    """A request body's JSON.  Returns (value, {field: the raw key bound to it})
    for the top-level object.  Python's json keeps the last of duplicated keys
    and keeps \\u escapes of lone surrogates; the lenient parser also binds
    keys to FIELD_NAMES after folding, in every object."""
    if not lenient:
        return json.loads(text), {}
    keys = {}

    def bind(pairs):
        nonlocal keys
        obj, keys = {}, {}  # the top-level object is bound last
        for k, v in pairs:
            name = FOLDED_FIELDS.get(fold(k), k)
            obj[name] = v  # the last copy wins
            keys[name] = k
        return obj

    return json.loads(text, object_pairs_hook=bind), keys


# --------------------------------------------------------------------------
# PNG generation (zlib + struct)

def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


@functools.lru_cache(maxsize=512)
def make_png(name, size, grid):
    """A valid RGB PNG: a colour gradient seeded by `name`; 4 tiles if grid."""
    d = hashlib.sha256(name.encode()).digest()
    half = size // 2
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter type None
        for x in range(size):
            q = ((2 if y >= half else 0) + (1 if x >= half else 0)) if grid else 0
            if grid and (x in (half - 1, half) or y in (half - 1, half)):
                row += b"\xff\xff\xff"
                continue
            r = (d[q * 3] + x * 255 // size) & 255
            g = (d[q * 3 + 1] + y * 255 // size) & 255
            b = (d[q * 3 + 2] + (x + y) * 127 // size) & 255
            row += bytes((r, g, b))
        rows.append(bytes(row))
    raw = b"".join(rows)
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(raw, 9)) + _png_chunk(b"IEND", b""))


# --------------------------------------------------------------------------
# Configuration and state

class Config:
    FIELDS = ("key", "auth", "time_scale", "notfound_status", "queue_slots", "public_url",
              "parser")

    def __init__(self, args):
        self.key = args.key
        self.auth = args.auth
        self.time_scale = args.time_scale
        self.notfound_status = args.notfound_status
        self.queue_slots = args.queue_slots
        self.public_url = args.public_url
        self.parser = args.parser
        self.log = args.log
        self.verbose = args.verbose

    def snapshot(self):
        return {f: getattr(self, f) for f in self.FIELDS}

    def restore(self, snap):
        for k, v in snap.items():
            setattr(self, k, v)

    def update(self, d):
        if not isinstance(d, dict):
            raise ValueError("config must be a JSON object")
        for k, v in d.items():
            k2 = {"timeScale": "time_scale", "notfoundStatus": "notfound_status",
                  "queueSlots": "queue_slots", "publicUrl": "public_url"}.get(k, k)
            if k2 == "key" and isinstance(v, str) and v:
                self.key = v
            elif k2 == "auth" and v in ("bearer", "mj-api-secret", "either"):
                self.auth = v
            elif k2 == "time_scale" and isinstance(v, (int, float)) and v >= 0:
                self.time_scale = float(v)
            elif k2 == "notfound_status" and v in (200, 404, "200", "404"):
                self.notfound_status = int(v)
            elif k2 == "queue_slots" and isinstance(v, int) and v >= 1:
                self.queue_slots = v
            elif k2 == "public_url" and isinstance(v, str) and v:
                self.public_url = v.rstrip("/")
            elif k2 == "parser" and v in PARSERS:
                self.parser = v
            else:
                raise ValueError("bad config field %r=%r" % (k, v))


class Task:
    """A simulated task.  Its status is computed lazily from timestamps."""

    def __init__(self, tid, action, kind, prompt, scale, account, *, state=None,
                 notify_hook=None, bot_type="MID_JOURNEY", mode=None, parent=None,
                 final_prompt=None, text_result=None, extra_props=None):
        self.id = tid
        self.action = action
        self.kind = kind  # grid | upscale | describe | shorten | none
        self.prompt = prompt
        self.prompt_en = prompt
        self.state = state
        self.notify_hook = notify_hook
        self.bot_type = bot_type
        self.mode = mode
        self.parent = parent
        self.scale = scale
        self.account = account
        self.submit_ms = now_ms()
        self.base_ms = None  # lifecycle origin; None while MODAL
        self.canceled_ms = None
        self.frozen = None
        self.final_prompt = final_prompt if final_prompt is not None else prompt
        self.text_result = text_result  # describe/shorten text, shown at SUCCESS
        self.remix = False
        self.modal_origin = None  # customId that made this MODAL task
        self.mask = False
        p = prompt or ""
        self.outcome = "stuck" if STUCK_RE.search(p) else ("failure" if FAIL_RE.search(p) else "success")
        self.message_id = str(random.randint(10 ** 18, 10 ** 19 - 1))
        self.message_hash = str(uuid.uuid4())
        self.nonce = str(random.randint(10 ** 18, 10 ** 19 - 1))
        self.extra_props = extra_props or {}
        self.buttons = self._make_buttons()

    # -- timeline -----------------------------------------------------------
    def finish_ms(self):
        if self.canceled_ms is not None:
            return self.canceled_ms
        if self.base_ms is None or self.outcome == "stuck":
            return math.inf
        return self.base_ms + (T_FAIL if self.outcome == "failure" else T_FINISH) * self.scale

    def _phase(self, now):
        if self.base_ms is None:
            return "MODAL", 0
        t = now - self.base_ms
        s = self.scale
        if t < 0 or t < T_SUBMITTED * s:
            return "NOT_START", 0
        if self.outcome == "stuck" or t < T_START * s:
            return "SUBMITTED", 0
        if self.outcome == "failure" and t >= T_FAIL * s:
            return "FAILURE", int((T_FAIL - T_START) * 100 / T_RUN)
        if t < T_FINISH * s:
            pct = int((t - T_START * s) * 100 / (T_RUN * s)) if s > 0 else 100
            return "IN_PROGRESS", max(0, min(99, pct))
        return "SUCCESS", 100

    def status(self, now):
        if self.canceled_ms is not None:
            return "CANCEL"
        return self._phase(now)[0]

    def cancel(self, now):
        self.frozen = self._phase(now)
        self.canceled_ms = now

    # -- buttons --------------------------------------------------------------
    def _make_buttons(self):
        h = self.message_hash
        b = []

        def add(cid, label, emoji, action, modal=False, kind="grid", extra=None):
            b.append({"customId": cid, "emoji": emoji, "label": label, "type": 2, "style": 2,
                      "_action": action, "_modal": modal, "_kind": kind, "_extra": extra})

        if self.kind == "grid":
            for i in range(1, 5):
                add("MJ::JOB::upsample::%d::%s" % (i, h), "U%d" % i, "", "UPSCALE", kind="upscale")
            add("MJ::JOB::reroll::0::%s::SOLO" % h, "", "\U0001f504", "REROLL")
            for i in range(1, 5):
                add("MJ::JOB::variation::%d::%s" % (i, h), "V%d" % i, "", "VARIATION")
        elif self.kind == "upscale":
            add("MJ::JOB::low_variation::1::%s::SOLO" % h, "Vary (Subtle)", "\U0001fa84", "VARIATION")
            add("MJ::JOB::high_variation::1::%s::SOLO" % h, "Vary (Strong)", "\U0001fa84", "VARIATION")
            add("MJ::Inpaint::1::%s::SOLO" % h, "Vary (Region)", "\U0001f58c\ufe0f", "INPAINT", modal=True)
            add("MJ::Outpaint::50::1::%s::SOLO" % h, "Zoom Out 2x", "\U0001f50d", "ZOOM", extra=" --zoom 2")
            add("MJ::Outpaint::75::1::%s::SOLO" % h, "Zoom Out 1.5x", "\U0001f50d", "ZOOM", extra=" --zoom 1.5")
            add("MJ::CustomZoom::%s" % h, "Custom Zoom", "\U0001f50d", "ZOOM", modal=True, extra=" --zoom 2")
            for d, e in (("left", "\u2b05\ufe0f"), ("right", "\u27a1\ufe0f"),
                         ("up", "\u2b06\ufe0f"), ("down", "\u2b07\ufe0f")):
                add("MJ::JOB::pan_%s::1::%s::SOLO" % (d, h), "", e, "PAN")
        elif self.kind == "describe":
            for i in range(1, 5):
                add("MJ::Job::PicReader::%d" % i, str(i), "", "IMAGINE", modal=True, extra=i)
        elif self.kind == "shorten":
            for i in range(1, 6):
                add("MJ::Job::PromptAnalyzer::%d" % i, str(i), "", "IMAGINE", modal=True, extra=i)
        return b

    def find_button(self, cid):
        for b in self.buttons:
            if b["customId"] == cid:
                return b
        return None

    # -- views ----------------------------------------------------------------
    def view(self, now, public):
        if self.canceled_ms is not None:
            status = "CANCEL"
            fstatus, progress = self.frozen
        else:
            status, progress = self._phase(now)
            fstatus = status
        s = self.scale
        started = fstatus in ("IN_PROGRESS", "SUCCESS", "FAILURE")
        start_time = int(self.base_ms + T_START * s) if started else None
        finish_time = None
        if status == "CANCEL":
            finish_time = int(self.canceled_ms)
        elif status in ("SUCCESS", "FAILURE"):
            finish_time = int(self.finish_ms())
        image = ""
        if self.kind == "describe":
            image = "%s/images/%s.png" % (public, self.id)
        elif self.kind != "shorten":
            if status == "IN_PROGRESS":
                image = "%s/images/%s_preview.png" % (public, self.id)
            elif status == "SUCCESS":
                image = "%s/images/%s.png" % (public, self.id)
        final_prompt = self.final_prompt
        if self.kind in ("describe", "shorten"):
            final_prompt = self.text_result if status == "SUCCESS" else ""
        props = {
            "finalPrompt": final_prompt,
            "finalZhPrompt": "",
            "messageId": self.message_id,
            "messageHash": self.message_hash if status == "SUCCESS" else "",
            "progressMessageId": self.message_id,
            "flags": 64 if status == "MODAL" else 0,
            "nonce": self.nonce,
            "discordInstanceId": self.account["id"],
            "discordChannelId": self.account["channelId"],
            "botType": self.bot_type,
            "notifyHook": self.notify_hook,
        }
        if status == "MODAL" or self.remix:
            props["remix"] = self.remix
        if self.parent:
            props["parentId"] = self.parent
        if self.mode:
            props["speedMode"] = self.mode
        props.update(self.extra_props)
        return {
            "id": self.id,
            "action": self.action,
            "status": status,
            "prompt": self.prompt,
            "promptEn": self.prompt_en,
            "description": "Waiting for window confirm" if status == "MODAL" else "Submit success",
            "state": self.state,
            "submitTime": int(self.submit_ms),
            "startTime": start_time,
            "finishTime": finish_time,
            "progress": "%d%%" % progress,
            "imageUrl": image,
            "failReason": ("Simulated failure: the prompt asked to fail" if status == "FAILURE"
                           else ("Canceled" if status == "CANCEL" else None)),
            "botType": self.bot_type,
            "mode": self.mode.upper() if self.mode else None,
            "properties": props,
            "buttons": ([{k: v for k, v in b.items() if not k.startswith("_")} for b in self.buttons]
                        if status == "SUCCESS" else []),
        }


class State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.cfg_initial = cfg.snapshot()
        self.lock = threading.RLock()
        self.tasks = {}
        self.uploads = set()
        self.issued = set()  # every id ever handed out, kept across resets
        self.records = []
        self.sticky = []  # [{"mode":..., "count":N|None, "path":substr|None}]
        self.seq = itertools.count(1)
        self.conn_seq = itertools.count(1)
        self.log_lock = threading.Lock()
        self.log_fh = open(cfg.log, "a", encoding="utf-8") if cfg.log else None

    def new_id(self):
        with self.lock:
            forced = getattr(FORCED, "id", None)
            if forced:
                # X-Sim-Task-Id: tests name the id the next task gets
                FORCED.id = None
                if forced in self.issued:
                    raise Reply(409, result(4, "task id %s already issued" % forced))
                self.issued.add(forced)
                return forced
            while True:
                tid = "%d%03d" % (int(time.time() * 1000), random.randint(0, 999))
                if tid not in self.issued:
                    self.issued.add(tid)
                    return tid

    def reset(self):
        with self.lock:
            self.tasks.clear()
            self.uploads.clear()
            self.records.clear()
            self.sticky.clear()
            self.cfg.restore(self.cfg_initial)

    def record(self, rec, search):
        with self.lock:
            rec["seq"] = next(self.seq)
            self.records.append((rec, search))
        if self.log_fh:
            with self.log_lock:
                self.log_fh.write(jtext(rec) + "\n")
                self.log_fh.flush()

    def take_sticky(self, path):
        with self.lock:
            for rule in self.sticky:
                if rule.get("path") and rule["path"] not in path:
                    continue
                if rule.get("count") is not None:
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        self.sticky.remove(rule)
                return rule["mode"]
        return None

    def active(self, now):
        return [t for t in self.tasks.values() if t.status(now) in UNFINISHED]

    def admit(self, task, now):
        """Queue admission.  Returns (code, position); sets task.base_ms unless 23."""
        with self.lock:
            act = [t for t in self.active(now) if t is not task]
            n = len(act)
            slots = self.cfg.queue_slots
            if n >= 2 * slots:
                return 23, 0
            if n >= slots:
                k = n - slots + 1
                fin = sorted(t.finish_ms() for t in act)
                task.base_ms = fin[k - 1]
                return 22, k
            task.base_ms = now
            return 1, 0


# --------------------------------------------------------------------------
# Helpers for the API

class Reply(Exception):
    def __init__(self, status, obj):
        super().__init__(status)
        self.status = status
        self.obj = obj


def result(code, desc, res=None, props=None):
    return {"code": code, "description": desc, "result": res, "properties": props or {}}


def fail4(desc):
    raise Reply(200, result(4, desc))


def is_data_url(x):
    if not isinstance(x, str):
        return False
    m = DATA_URL_RE.match(x)
    if not m or len(x) == m.end():
        return False
    try:
        binascii.a2b_base64(x[m.end():], strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return True


def banned_word(prompt):
    for w, rx in BANNED_RES:
        if rx.search(prompt or ""):
            return w
    return None


def opt_str(body, name):
    v = body.get(name)
    if v is None:
        return None
    if not isinstance(v, str):
        fail4("%s must be a string" % name)
    return v


# --------------------------------------------------------------------------
# The HTTP handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mjsim/" + VERSION
    sys_version = ""
    timeout = 300

    def quickack(self):
        # Clients that write headers and body separately (HTTP::Tiny) would
        # otherwise wait for our delayed ACK (Nagle): ~40 ms per POST.
        if hasattr(socket, "TCP_QUICKACK"):
            try:
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                pass

    def version_string(self):
        return self.server_version

    # silence the default per-request stderr log unless --verbose
    def log_message(self, fmt, *args):
        if self.server.state.cfg.verbose:
            sys.stderr.write("mjsim: %s - %s\n" % (self.address_string(), fmt % args))

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.conn_id = next(self.server.state.conn_seq)
        self.conn_req = 0

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    # -- request body ---------------------------------------------------------
    def read_body(self, keep):
        """Stream the body; return (sha256, length, head bytes, search bytes, full|None)."""
        h = hashlib.sha256()
        st = {"n": 0, "head": bytearray(), "search": bytearray(), "tail": b"", "over": False}
        full = bytearray() if keep else None

        def eat(data):
            h.update(data)
            st["n"] += len(data)
            if st["n"] > MAX_BODY:
                raise ValueError("body too large")
            if len(st["head"]) < BODY_RECORD_MAX:
                st["head"] += data[:BODY_RECORD_MAX - len(st["head"])]
            if not st["over"]:
                if st["n"] <= SEARCH_FULL_MAX:
                    st["search"] += data
                else:
                    st["over"] = True
                    st["search"] = bytearray()
            if st["over"]:
                st["tail"] = (st["tail"] + data)[-BODY_RECORD_MAX:]
            if full is not None:
                full.extend(data)

        self.quickack()
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise EOFError("eof in chunk size")
                size = int(line.split(b";", 1)[0].strip() or b"x", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                left = size
                while left:
                    data = self.rfile.read(min(left, 65536))
                    if not data:
                        raise EOFError("eof in chunk")
                    eat(data)
                    left -= len(data)
                self.rfile.readline(65537)  # CRLF after the chunk
        else:
            cl = self.headers.get("Content-Length")
            left = int(cl) if cl else 0
            if left < 0:
                raise ValueError("negative Content-Length")
            while left:
                data = self.rfile.read(min(left, 65536))
                if not data:
                    raise EOFError("eof in body")
                eat(data)
                left -= len(data)
        search = bytes(st["search"]) if not st["over"] else bytes(st["head"]) + b"\n" + st["tail"]
        return h.hexdigest(), st["n"], bytes(st["head"]), search, full

    # -- auth -----------------------------------------------------------------
    def given_keys(self):
        out = []
        a = self.headers.get("Authorization")
        if a is not None:
            out.append(a[7:].strip() if a[:7].lower() == "bearer " else a)
        s = self.headers.get("mj-api-secret")
        if s is not None:
            out.append(s)
        return out

    def auth_ok(self):
        cfg = self.server.state.cfg
        key = cfg.key.encode()
        ok_bearer = ok_secret = False
        a = self.headers.get("Authorization")
        if a is not None and a[:7].lower() == "bearer ":
            ok_bearer = hmac.compare_digest(a[7:].strip().encode("utf-8", "replace"), key)
        s = self.headers.get("mj-api-secret")
        if s is not None:
            ok_secret = hmac.compare_digest(s.strip().encode("utf-8", "replace"), key)
        if cfg.auth == "bearer":
            return ok_bearer
        if cfg.auth == "mj-api-secret":
            return ok_secret
        return ok_bearer or ok_secret

    def key_error(self, status, what):
        keys = self.given_keys()
        quoted = ", ".join(keys) if keys else "(none)"
        msg = "%s: %s" % (what, quoted)
        return status, jdump({"code": status, "description": msg, "error": msg, "result": None}), \
            "application/json; charset=utf-8", []

    # -- response writing ---------------------------------------------------------
    def accepts_gzip(self):
        ae = self.headers.get("Accept-Encoding") or ""
        for part in ae.split(","):
            bits = [b.strip() for b in part.split(";")]
            if bits[0].lower() in ("gzip", "*"):
                q = 1.0
                for b in bits[1:]:
                    if b.lower().startswith("q="):
                        try:
                            q = float(b[2:])
                        except ValueError:
                            q = 0.0
                return q > 0
        return False

    def send(self, status, body, ctype, headers, modes):
        if self.sim_status:
            status = self.sim_status
        if self.sim_quote_headers:
            keys = ", ".join(self.given_keys()) or "(none)"
            headers = list(headers) + [(h, "mjsim quotes %s" % keys)
                                       for h in self.sim_quote_headers]
        if "set-cookie" in modes:
            headers = list(headers) + [("Set-Cookie", "simsession=s1; Path=/; HttpOnly")]
        if "gzip" in modes and self.accepts_gzip():
            body = gzip.compress(body, mtime=0)
            headers = list(headers) + [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        chunked = "chunked" in modes or any(m in modes for m in ("cut", "badchunk", "early-end"))
        split = "split" in modes
        truncated = any(m in modes for m in ("truncated", "cut", "badchunk", "headers-only"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection or truncated:
            # a server that will close must say so, or a client (nginx's
            # upstream keepalive) may reuse the connection and lose a request
            self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        if self.command == "HEAD":
            self.end_headers()
            return
        if not (chunked or split or truncated):
            # headers and body in one write: no small-packet delays on keep-alive
            self._headers_buffer.append(b"\r\n")
            self.wfile.write(b"".join(self._headers_buffer) + body)
            self._headers_buffer = []
            return
        self.end_headers()
        if "headers-only" in modes:
            self.wfile.flush()
            self.close_connection = True
        elif chunked:
            limit = len(body) // 2 if (truncated or "early-end" in modes) else len(body)
            for i in range(0, limit, 7):
                piece = body[i:min(i + 7, limit)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                if split and (i // 7) % 8 == 7:
                    time.sleep(0.01)
            if "cut" in modes:  # a chunk that promises more than it brings
                self.wfile.write(b"%x\r\n%s" % (len(body) - limit, body[limit:limit + 3]))
            elif "badchunk" in modes:
                self.wfile.write(b"zz\r\n")
            if truncated:
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")
        elif truncated:
            self.wfile.write(body[:len(body) // 2])
            self.close_connection = True
        elif split:
            n = max(1, (len(body) + 4) // 5)
            for i in range(0, len(body), n):
                self.wfile.write(body[i:i + n])
                time.sleep(0.02)

    # -- main dispatch --------------------------------------------------------------
    def dispatch(self):
        self.conn_req += 1
        self.sim_status = None          # X-Sim-Mode's status:NNN
        self.sim_quote_headers = []     # and quote-key-header:NAME
        parts = urlsplit(self.path)
        path = parts.path
        try:
            if path.startswith("/_sim/") or path == "/_sim":
                try:
                    full = self.read_body(True)[4]
                except (ValueError, EOFError):
                    self.close_connection = True
                    return
                return self.control(path, parts.query, full)
            self.serve_api(path, parts.query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in the sim: say so loudly
            traceback.print_exc()
            try:
                self.send(500, jdump({"code": 9, "description": "mjsim internal error: %s" % e}),
                          "application/json; charset=utf-8", [], ())
            except Exception:
                pass
            self.close_connection = True

    def parse_modes(self, path):
        raw = []
        hv = self.headers.get("X-Sim-Mode")
        if hv:
            raw.append(hv)
        sticky = self.server.state.take_sticky(path)
        if sticky:
            raw.append(sticky)
        modes = []
        slow = 0
        bad = []
        for token in ",".join(raw).split(","):
            t = token.strip()
            if t.lower().startswith("quote-key-header:") and len(t) > 17:
                self.sim_quote_headers.append(t[17:])
                continue
            t = t.lower()
            if not t:
                continue
            if t.startswith("slow:"):
                try:
                    slow += int(t[5:])
                except ValueError:
                    bad.append(t)
            elif re.fullmatch(r"status:[1-5][0-9][0-9]", t):
                self.sim_status = int(t[7:])
            elif t in KNOWN_MODES:
                modes.append(t)
            else:
                bad.append(t)
        return modes, slow, bad

    def serve_api(self, path, query):
        st = self.server.state
        modes, slow, bad = self.parse_modes(path)
        content_mode = next((m for m in modes if m in CONTENT_MODES), None)
        m = MJ_RE.match(path)
        speed = m.group(1) if m else None
        route = None
        if m:
            route = ROUTES_BY_PATH(m.group(2))
        authed = self.auth_ok()
        keep = bool(route and route[1] and self.command == "POST" and authed and not content_mode
                     and not bad)
        try:
            sha, n, head, search, full = self.read_body(keep)
        except (ValueError, EOFError) as e:
            self.close_connection = True
            if isinstance(e, EOFError):
                return
            return self.send(400, jdump({"error": "bad request body: %s" % e}),
                             "application/json; charset=utf-8", [], ())
        # parsed before the request is recorded, so that the record says what the parser bound
        lenient = st.cfg.parser == "lenient"
        body, keys, text = {}, {}, None
        if full:
            try:
                text = full.decode("utf-8", "mjsim-lenient" if lenient else "strict")
                full = None  # free the raw bytes before parsing (40 MB bodies)
                body, keys = parse_body(text, lenient)
            except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deep for json
                body = None
            full = text = None
        bound = ({f: body[f] for f in BOUND_FIELDS if f in body}
                 if isinstance(body, dict) and keep else None)
        hdrs = [[k, v] for k, v in self.headers.items()]
        rec = {
            "time": int(now_ms()),
            "method": self.command,
            "path": path,
            "query": query,
            "target": self.path,
            "http_version": self.request_version,
            "mode": speed,
            "headers": hdrs,
            "body_length": n,
            "body_sha256": sha,
            "body": head.decode("utf-8", "replace"),
            "body_truncated": n > len(head),
            "sim_modes": modes + (["slow:%d" % slow] if slow else []),
            "conn": self.conn_id,
            "conn_request": self.conn_req,
            "peer": "%s:%d" % self.client_address[:2],
            "parser": st.cfg.parser,
            "bound": bound,
            "bound_keys": bound and {f: keys.get(f, f) for f in bound},
        }
        search_text = "\n".join([self.requestline, self.path, unquote(self.path)]
                                + ["%s: %s" % (k, v) for k, v in hdrs]
                                + [search.decode("utf-8", "replace")])
        st.record(rec, search_text)

        if bad:
            return self.send(400, jdump({"error": "unknown X-Sim-Mode: %s" % ",".join(bad)}),
                             "application/json; charset=utf-8", [], ())
        if slow:
            time.sleep(slow / 1000.0)
        if content_mode == "close":
            self.close_connection = True
            return
        jt = "application/json; charset=utf-8"
        if content_mode == "garbage":
            return self.send(200, b"<<mjsim garbage>> {\"code\": 1, \"result\": \x00\xff not json",
                             jt, [], modes)
        if content_mode == "html500":
            return self.send(500, b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title>"
                             b"</head><body><h1>Internal Server Error</h1><p>mjsim: simulated "
                             b"upstream crash</p></body></html>\n", "text/html; charset=utf-8", [], modes)
        if content_mode == "json500":
            return self.send(500, jdump(result(9, "system error (simulated by mjsim)")), jt, [], modes)
        if content_mode == "502":
            return self.send(502, b"<html><head><title>502 Bad Gateway</title></head><body><center>"
                             b"<h1>502 Bad Gateway</h1></center><hr><center>mjsim</center></body></html>\n",
                             "text/html", [], modes)
        if content_mode == "503":
            return self.send(503, jdump({"error": {"message": "service unavailable (simulated)",
                                                   "type": "upstream_error"}}),
                             jt, [("Retry-After", "1")], modes)
        if content_mode == "401":
            s, b, c, h = self.key_error(401, "invalid api key")
            return self.send(s, b, c, h, modes)
        if content_mode == "403":
            s, b, c, h = self.key_error(403, "forbidden for api key")
            return self.send(s, b, c, h, modes)

        # images need no key
        im = IMAGE_RE.match(path)
        if im and self.command in ("GET", "HEAD"):
            name = im.group(1)
            with st.lock:
                t = st.tasks.get(name)
                known = t is not None or name in st.uploads
            if not known:
                return self.send(404, jdump({"error": "image not found"}), jt, [], modes)
            png = make_png(name + (im.group(2) or ""), 64 if im.group(2) else 128,
                           bool(t and t.kind == "grid" and not im.group(2)))
            return self.send(200, png, "image/png", [("Cache-Control", "max-age=3600")], modes)

        if not route:
            return self.send(404, jdump({"error": "not found", "path": path}), jt, [], modes)
        if not authed:
            s, b, c, h = self.key_error(401, "invalid api key")
            return self.send(s, b, c, h + [("WWW-Authenticate", 'Bearer realm="mjsim"')], modes)
        methods, needs_body, fn, groups = route
        if self.command not in methods:
            return self.send(405, jdump({"error": "method not allowed"}), jt,
                             [("Allow", ", ".join(methods))], modes)
        if needs_body and not isinstance(body, dict):
            return self.send(400, jdump(result(4, "request body must be a JSON object")), jt, [], modes)
        ctx = Ctx(st, body, speed, groups)
        forced = self.headers.get("X-Sim-Task-Id")
        if forced is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", forced):
            return self.send(400, jdump(result(4, "bad X-Sim-Task-Id")), jt, [], modes)
        FORCED.id = forced
        try:
            status, obj = fn(ctx)
        except Reply as r:
            status, obj = r.status, r.obj
        if "close-after" in modes:  # processed, but the answer is never sent
            self.close_connection = True
            return
        if "quote-key" in modes:  # a debug field some providers leave on
            quoted = ", ".join(self.given_keys()) or "(none)"
            for o in (obj if isinstance(obj, list) else [obj]):
                if isinstance(o, dict):
                    o["debugApiKey"] = quoted
        self.send(status, jdump(obj), jt, [], modes)

    # -- control endpoints (no key, not recorded) -----------------------------------
    def control(self, path, query, full):
        st = self.server.state
        q = dict(parse_qsl(query, keep_blank_values=True))
        jt = "application/json; charset=utf-8"

        def ok(obj, status=200):
            self.send(status, jdump(obj), jt, [("Cache-Control", "no-store")], ())

        def body_json():
            if not full:
                return {}
            return json.loads(full)

        if path == "/_sim/health":
            return ok({"ok": True})
        if path == "/_sim/requests":
            with st.lock:
                return ok([r for r, _ in st.records])
        if path == "/_sim/last":
            with st.lock:
                return ok(st.records[-1][0] if st.records else None)
        if path == "/_sim/reset":
            st.reset()
            return ok({"ok": True})
        if path == "/_sim/seen":
            raw = None
            for part in query.split("&"):
                if part.startswith("s="):
                    raw = unquote(part[2:])
            if raw is None or raw == "":
                return ok({"error": "missing s"}, 400)
            with st.lock:
                n = sum(1 for _, s in st.records if raw in s)
            return ok({"seen": n})
        if path == "/_sim/tasks":
            now = now_ms()
            with st.lock:
                return ok([t.view(now, st.cfg.public_url) for t in st.tasks.values()])
        m = re.match(r"^/_sim/task/([^/]+)$", path)
        if m:
            now = now_ms()
            with st.lock:
                t = st.tasks.get(m.group(1))
                if not t:
                    return ok(None, 404)
                return ok(t.view(now, st.cfg.public_url))
        if path == "/_sim/mode":
            try:
                b = body_json() if self.command == "POST" else {}
            except ValueError:
                return ok({"error": "bad JSON"}, 400)
            if self.command == "DELETE" or b.get("clear") or q.get("clear"):
                with st.lock:
                    st.sticky.clear()
            mode = b.get("mode", q.get("mode"))
            if mode:
                cnt = b.get("count", q.get("count"))
                rule = {"mode": str(mode),
                        "count": int(cnt) if cnt not in (None, "") else None,
                        "path": b.get("path", q.get("path")) or None}
                with st.lock:
                    st.sticky.append(rule)
            with st.lock:
                return ok({"ok": True, "rules": [dict(r) for r in st.sticky]})
        if path == "/_sim/config":
            try:
                b = body_json() if self.command == "POST" else {}
                with st.lock:
                    if b:
                        st.cfg.update(b)
                    return ok(st.cfg.snapshot())
            except ValueError as e:
                return ok({"error": str(e)}, 400)
        return ok({"error": "no such control endpoint", "path": path}, 404)


FORCED = threading.local()   # the X-Sim-Task-Id of the request being served


class Ctx:
    def __init__(self, st, body, speed, groups):
        self.st = st
        self.cfg = st.cfg
        self.body = body
        self.speed = speed
        self.groups = groups
        self.now = now_ms()


# --------------------------------------------------------------------------
# API endpoint implementations.  Each returns (http_status, json_object).

def notfound(ctx, what="task not found"):
    raise Reply(ctx.cfg.notfound_status, result(3, what))


def pick_account(ctx, filt):
    if filt is None:
        return ACCOUNTS[0]
    if not isinstance(filt, dict):
        fail4("accountFilter must be an object")
    inst = filt.get("instanceId")
    if inst:
        for a in ACCOUNTS:
            if a["id"] == str(inst):
                return a
        notfound(ctx, "no available account")
    return ACCOUNTS[0]


def check_bot(body):
    bot = body.get("botType") or "MID_JOURNEY"
    if bot not in ("MID_JOURNEY", "NIJI_JOURNEY"):
        fail4("botType must be MID_JOURNEY or NIJI_JOURNEY")
    return bot


def check_banned(prompt):
    w = banned_word(prompt)
    if w:
        raise Reply(200, result(24, "may contain sensitive words", None,
                                {"promptEn": prompt, "bannedWord": w}))


def admit_reply(ctx, task):
    st = ctx.st
    with st.lock:
        code, k = st.admit(task, ctx.now)
        if code == 23:
            return 200, result(23, "queue is full, please try again later")
        st.tasks[task.id] = task
    props = {"discordInstanceId": task.account["id"]}
    if code == 22:
        props["numberOfQueues"] = k
        return 200, result(22, "in queue, position %d" % k, task.id, props)
    return 200, result(1, "Submitted", task.id, props)


def new_task(ctx, action, kind, prompt, account, **kw):
    b = ctx.body
    return Task(ctx.st.new_id(), action, kind, prompt, ctx.cfg.time_scale, account,
                state=b.get("state"), notify_hook=b.get("notifyHook"),
                bot_type=kw.pop("bot_type", None) or "MID_JOURNEY", mode=ctx.speed, **kw)


def h_imagine(ctx):
    b = ctx.body
    prompt = opt_str(b, "prompt")
    if not prompt or not prompt.strip():
        fail4("prompt is required")
    arr = b.get("base64Array")
    if arr is None:
        arr = []
    if not isinstance(arr, list) or len(arr) > 5:
        fail4("base64Array must be a list of at most 5 data URLs")
    if not all(is_data_url(x) for x in arr):
        fail4("base64Array: invalid data URL")
    opt_str(b, "notifyHook")
    bot = check_bot(b)
    acct = pick_account(ctx, b.get("accountFilter"))
    check_banned(prompt)
    t = new_task(ctx, "IMAGINE", "grid", prompt, acct, bot_type=bot,
                 extra_props={"imageCount": len(arr)} if arr else None)
    return admit_reply(ctx, t)


def get_parent(ctx, tid):
    if not isinstance(tid, str) or not tid:
        fail4("taskId is required")
    with ctx.st.lock:
        t = ctx.st.tasks.get(tid)
    if not t:
        notfound(ctx, "parent task not found")
    return t


def do_action(ctx, parent, cid, remix):
    st = ctx.st
    pstatus = parent.status(ctx.now)
    if pstatus != "SUCCESS":
        fail4("parent task is not finished (status %s)" % pstatus)
    btn = parent.find_button(cid)
    if not btn:
        fail4("customId is not a button of the parent task")
    action = btn["_action"]
    prompt = parent.prompt
    final_prompt = parent.final_prompt
    if btn["_kind"] == "grid" and parent.kind in ("describe", "shorten"):
        lines = parent.text_lines
        prompt = final_prompt = lines[btn["_extra"] - 1]
    elif isinstance(btn["_extra"], str):
        final_prompt = (final_prompt or "") + btn["_extra"]
    t = Task(st.new_id(), action, btn["_kind"], prompt, ctx.cfg.time_scale, parent.account,
             state=ctx.body.get("state"), notify_hook=ctx.body.get("notifyHook"),
             bot_type=parent.bot_type, mode=ctx.speed, parent=parent.id,
             final_prompt=final_prompt, extra_props={"customId": cid})
    if btn["_modal"] or remix:
        t.remix = bool(remix)
        t.modal_origin = cid
        with st.lock:
            st.tasks[t.id] = t
        return 200, result(21, "Waiting for window confirm", t.id,
                           {"finalPrompt": final_prompt, "remix": t.remix,
                            "discordInstanceId": t.account["id"]})
    return admit_reply(ctx, t)


def h_action(ctx):
    b = ctx.body
    tid = b.get("taskId")
    cid = b.get("customId")
    if not isinstance(tid, str) or not tid:
        fail4("taskId is required")
    if not isinstance(cid, str) or not cid:
        fail4("customId is required")
    parent = get_parent(ctx, tid)
    return do_action(ctx, parent, cid, b.get("enableRemix") is True)


def change_to_custom_id(ctx, parent, action, index):
    h = parent.message_hash
    if action == "UPSCALE":
        cid = "MJ::JOB::upsample::%s::%s" % (index, h)
    elif action == "VARIATION":
        cid = "MJ::JOB::variation::%s::%s" % (index, h)
    else:
        cid = "MJ::JOB::reroll::0::%s::SOLO" % h
    return cid


def h_change(ctx):
    b = ctx.body
    action = b.get("action")
    if action not in ("UPSCALE", "VARIATION", "REROLL"):
        fail4("action must be UPSCALE, VARIATION or REROLL")
    index = b.get("index")
    if action != "REROLL" and (not isinstance(index, int) or isinstance(index, bool)
                               or not 1 <= index <= 4):
        fail4("index must be 1 to 4")
    parent = get_parent(ctx, b.get("taskId"))
    return do_action(ctx, parent, change_to_custom_id(ctx, parent, action, index), False)


def h_simple_change(ctx):
    content = ctx.body.get("content")
    m = re.match(r"^\s*(\S+)\s+(?:([UVuv])([1-4])|([Rr]))\s*$", content if isinstance(content, str) else "")
    if not m:
        fail4('content must look like "<taskId> U1" (U1-U4, V1-V4 or R)')
    parent = get_parent(ctx, m.group(1))
    if m.group(4):
        action, index = "REROLL", 0
    else:
        action = "UPSCALE" if m.group(2).upper() == "U" else "VARIATION"
        index = int(m.group(3))
    return do_action(ctx, parent, change_to_custom_id(ctx, parent, action, index), False)


def h_modal(ctx):
    b = ctx.body
    tid = b.get("taskId")
    if not isinstance(tid, str) or not tid:
        fail4("taskId is required")
    with ctx.st.lock:
        t = ctx.st.tasks.get(tid)
    if not t:
        notfound(ctx)
    if t.status(ctx.now) != "MODAL":
        fail4("task is not waiting for a modal (status %s)" % t.status(ctx.now))
    prompt = opt_str(b, "prompt")
    mask = opt_str(b, "maskBase64")
    if mask is not None and not is_data_url(mask) and not re.fullmatch(r"[A-Za-z0-9+/=]+", mask):
        fail4("maskBase64 must be base64 or a data URL")
    if prompt:
        check_banned(prompt)
        t.prompt = t.prompt_en = prompt
        t.final_prompt = prompt
        if FAIL_RE.search(prompt):
            t.outcome = "failure"
        elif STUCK_RE.search(prompt):
            t.outcome = "stuck"
    if mask:
        t.extra_props["maskBase64Length"] = len(mask)
    with ctx.st.lock:
        code, k = ctx.st.admit(t, ctx.now)
    props = {"discordInstanceId": t.account["id"]}
    if code == 23:
        return 200, result(23, "queue is full, please try again later")
    if code == 22:
        props["numberOfQueues"] = k
        return 200, result(22, "in queue, position %d" % k, t.id, props)
    return 200, result(1, "Submitted", t.id, props)


def h_blend(ctx):
    b = ctx.body
    arr = b.get("base64Array")
    if not isinstance(arr, list) or not 2 <= len(arr) <= 5:
        fail4("base64Array must contain 2 to 5 images")
    if not all(is_data_url(x) for x in arr):
        fail4("base64Array: invalid data URL")
    dim = b.get("dimensions") or "SQUARE"
    ar = {"PORTRAIT": "2:3", "SQUARE": "1:1", "LANDSCAPE": "3:2"}.get(dim)
    if not ar:
        fail4("dimensions must be PORTRAIT, SQUARE or LANDSCAPE")
    bot = check_bot(b)
    acct = pick_account(ctx, b.get("accountFilter"))
    t = new_task(ctx, "BLEND", "grid", "", acct, bot_type=bot,
                 final_prompt="%d images --ar %s" % (len(arr), ar),
                 extra_props={"imageCount": len(arr), "dimensions": dim})
    return admit_reply(ctx, t)


def describe_text(tid):
    return ["a simulated description %d of image %s, soft light, detailed --ar 1:1" % (i, tid)
            for i in range(1, 5)]


def h_describe(ctx):
    b = ctx.body
    data = b.get("base64")
    link = b.get("link")
    if data is not None:
        if not is_data_url(data):
            fail4("base64 must be a data URL")
    elif isinstance(link, str) and re.match(r"^https?://\S+$", link):
        pass
    else:
        fail4("base64 or link is required")
    bot = check_bot(b)
    acct = pick_account(ctx, b.get("accountFilter"))
    tid = ctx.st.new_id()
    lines = describe_text(tid)
    t = Task(tid, "DESCRIBE", "describe", "", ctx.cfg.time_scale, acct,
             state=b.get("state"), notify_hook=b.get("notifyHook"), bot_type=bot,
             mode=ctx.speed, final_prompt="",
             text_result="\n\n".join("%d\ufe0f\u20e3 %s" % (i + 1, s) for i, s in enumerate(lines)))
    t.text_lines = lines
    return admit_reply(ctx, t)


def h_shorten(ctx):
    b = ctx.body
    prompt = opt_str(b, "prompt")
    if not prompt or not prompt.strip():
        fail4("prompt is required")
    bot = check_bot(b)
    acct = pick_account(ctx, b.get("accountFilter"))
    check_banned(prompt)
    words = prompt.split()
    lines = [" ".join(words[:max(1, len(words) * (6 - i) // 6)]) for i in range(1, 6)]
    text = ("IMPORTANT TOKENS\n" + " ".join(words[:5]) + "\n\nSHORTENED PROMPTS\n"
            + "\n".join("%d\ufe0f\u20e3 %s" % (i + 1, s) for i, s in enumerate(lines)))
    t = new_task(ctx, "SHORTEN", "shorten", prompt, acct, bot_type=bot, final_prompt="",
                 text_result=text)
    t.text_lines = lines
    return admit_reply(ctx, t)


def h_upload(ctx):
    arr = ctx.body.get("base64Array")
    if not isinstance(arr, list) or not 1 <= len(arr) <= 10:
        fail4("base64Array must contain 1 to 10 images")
    if not all(is_data_url(x) for x in arr):
        fail4("base64Array: invalid data URL")
    urls = []
    with ctx.st.lock:
        for _ in arr:
            name = "up" + uuid.uuid4().hex[:16]
            ctx.st.uploads.add(name)
            urls.append("%s/images/%s.png" % (ctx.cfg.public_url, name))
    return 200, result(1, "Success", urls)


def h_swap(ctx):
    b = ctx.body
    if not is_data_url(b.get("sourceBase64")) or not is_data_url(b.get("targetBase64")):
        fail4("sourceBase64 and targetBase64 must be data URLs")
    acct = pick_account(ctx, b.get("accountFilter"))
    t = new_task(ctx, "SWAP_FACE", "none", "", acct)
    return admit_reply(ctx, t)


def h_edits(ctx):
    b = ctx.body
    prompt = opt_str(b, "prompt")
    if not prompt or not prompt.strip():
        fail4("prompt is required")
    img = b.get("image") or b.get("base64")
    if img is not None and not is_data_url(img) and not (isinstance(img, str) and img.startswith("http")):
        fail4("image must be a data URL or a link")
    acct = pick_account(ctx, b.get("accountFilter"))
    check_banned(prompt)
    t = new_task(ctx, "EDIT", "none", prompt, acct, bot_type=check_bot(b))
    return admit_reply(ctx, t)


def h_video(ctx):
    b = ctx.body
    prompt = opt_str(b, "prompt") or ""
    img = b.get("image") or b.get("base64")
    if not prompt.strip() and not img:
        fail4("prompt or image is required")
    if img is not None and not is_data_url(img) and not (isinstance(img, str) and img.startswith("http")):
        fail4("image must be a data URL or a link")
    acct = pick_account(ctx, b.get("accountFilter"))
    check_banned(prompt)
    t = new_task(ctx, "VIDEO", "none", prompt, acct, bot_type=check_bot(b))
    return admit_reply(ctx, t)


def lookup(ctx):
    with ctx.st.lock:
        t = ctx.st.tasks.get(ctx.groups[0])
    if not t:
        notfound(ctx)
    return t


def h_fetch(ctx):
    t = lookup(ctx)
    with ctx.st.lock:
        return 200, t.view(ctx.now, ctx.cfg.public_url)


def h_list_by_condition(ctx):
    ids = ctx.body.get("ids")
    if ids is None:
        return 200, []
    if not isinstance(ids, list):
        fail4("ids must be an array")
    out, seen = [], set()
    with ctx.st.lock:
        for i in ids:
            if isinstance(i, str) and i not in seen and i in ctx.st.tasks:
                seen.add(i)
                out.append(ctx.st.tasks[i].view(ctx.now, ctx.cfg.public_url))
    return 200, out


def h_image_seed(ctx):
    t = lookup(ctx)
    s = t.status(ctx.now)
    if s != "SUCCESS":
        fail4("task is not finished (status %s)" % s)
    seed = str(int(hashlib.sha256(t.id.encode()).hexdigest()[:8], 16))
    return 200, result(1, "Success", seed)


def h_cancel(ctx):
    t = lookup(ctx)
    with ctx.st.lock:
        s = t.status(ctx.now)
        if s not in UNFINISHED and s != "MODAL":
            fail4("task is already finished (status %s)" % s)
        t.cancel(ctx.now)
    return 200, result(1, "Success", t.id)


def h_task_list(ctx):
    with ctx.st.lock:
        return 200, [t.view(ctx.now, ctx.cfg.public_url) for t in ctx.st.tasks.values()]


def h_task_queue(ctx):
    with ctx.st.lock:
        return 200, [t.view(ctx.now, ctx.cfg.public_url) for t in ctx.st.active(ctx.now)]


def h_accounts(ctx):
    return 200, ACCOUNTS


# (regex, methods, needs JSON body, handler)
ROUTES = [
    (r"/submit/imagine", ("POST",), True, h_imagine),
    (r"/submit/action", ("POST",), True, h_action),
    (r"/submit/blend", ("POST",), True, h_blend),
    (r"/submit/describe", ("POST",), True, h_describe),
    (r"/submit/modal", ("POST",), True, h_modal),
    (r"/submit/shorten", ("POST",), True, h_shorten),
    (r"/submit/change", ("POST",), True, h_change),
    (r"/submit/simple-change", ("POST",), True, h_simple_change),
    (r"/submit/upload-discord-images", ("POST",), True, h_upload),
    (r"/insight-face/swap", ("POST",), True, h_swap),
    (r"/submit/edits", ("POST",), True, h_edits),
    (r"/submit/video", ("POST",), True, h_video),
    (r"/task/([^/]+)/fetch", ("GET",), False, h_fetch),
    (r"/task/list-by-condition", ("POST",), True, h_list_by_condition),
    (r"/task/([^/]+)/image-seed", ("GET",), False, h_image_seed),
    (r"/task/([^/]+)/cancel", ("POST",), False, h_cancel),
    (r"/task/list", ("GET", "POST"), False, h_task_list),
    (r"/task/queue", ("GET", "POST"), False, h_task_queue),
    (r"/account/list", ("GET", "POST"), False, h_accounts),
]
_COMPILED = [(re.compile("^" + r + "$"), m, nb, fn) for r, m, nb, fn in ROUTES]


def ROUTES_BY_PATH(sub):
    # list-by-condition must win over /task/{id}/... shapes; exact routes come first
    for rx, methods, nb, fn in _COMPILED:
        m = rx.match(sub)
        if m:
            return (methods, nb, fn, m.groups())
    return None


# --------------------------------------------------------------------------

class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def server_bind(self):
        # skip HTTPServer's getfqdn() (reverse DNS can hang in sandboxes)
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port


def parse_listen(s):
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("--listen wants HOST:PORT")
    return (host.strip("[]") or "127.0.0.1", int(port))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Simulated midjourney-proxy upstream for ngx_mj tests")
    ap.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0),
                    help="HOST:PORT (port 0 picks a free port; the line printed tells it)")
    ap.add_argument("--key", required=True, help="the upstream API key the sim expects")
    ap.add_argument("--auth", choices=("bearer", "mj-api-secret", "either"), default="either")
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--log", help="append a JSON line per received request to FILE")
    ap.add_argument("--public-url", help="base of imageUrl (default http://HOST:PORT)")
    ap.add_argument("--notfound-status", type=int, choices=(200, 404), default=404)
    ap.add_argument("--queue-slots", type=int, default=3)
    ap.add_argument("--parser", choices=PARSERS, default="strict",
                    help="how body keys are bound: strict (exact) or lenient (as Jackson and Go)")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="exit when the parent process goes away (used by t/lib/MJSim.pm)")
    args = ap.parse_args(argv)
    if args.time_scale < 0:
        ap.error("--time-scale must be >= 0")
    if args.queue_slots < 1:
        ap.error("--queue-slots must be >= 1")

    host, port = args.listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    SimServer.address_family = family
    try:
        server = SimServer((host, port), Handler)
    except OSError as e:
        sys.stderr.write("mjsim: cannot listen on %s:%d: %s\n" % (host, port, e))
        return 2
    port = server.server_address[1]
    shown = "[%s]" % host if family == socket.AF_INET6 else host
    if not args.public_url:
        args.public_url = "http://%s:%d" % (shown, port)
    args.public_url = args.public_url.rstrip("/")
    server.state = State(Config(args))

    def stop(signum, frame):
        raise SystemExit(0)

    if args.exit_with_parent:
        ppid = os.getppid()

        def watch():
            while os.getppid() == ppid:
                time.sleep(0.5)
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("mjsim listening on %s:%d\n" % (shown, port))
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
