"""The Kubernetes API peer for sphere's provider tests: kmock, extended.

kmock's ``KubernetesEmulator`` keeps objects in memory and serves them over real HTTP,
but as shipped it sets no ``resourceVersion`` (kube's watcher then re-lists in a tight
loop), ignores label selectors, and serves neither ``PUT`` nor 409 conflicts. This
wrapper keeps kmock's server, discovery and object store (``kmock.objects``, with each
object's history) and serves the object verbs the way the API server does:

* every create, patch, replace and delete takes the next ``resourceVersion`` (one
  counter for the whole server, as etcd's revision) and sets ``uid``,
  ``creationTimestamp`` and ``generation`` (bumped when ``spec`` changes);
* LIST returns the current revision as the list's ``resourceVersion``, in pages of
  ``limit`` items with a ``continue`` token when asked (kube's watcher asks for 500);
  WATCH with
  ``resourceVersion=N`` streams every change after N (from an event log, so nothing
  between the list and the watch is lost), ``timeoutSeconds`` ends the stream;
* ``labelSelector`` (``k``, ``!k``, ``k=v``, ``k!=v``, ``k in (a,b)``) and the
  ``fieldSelector`` ``metadata.name=N`` filter lists and watches;
* PUT replaces an object; a body whose ``metadata.resourceVersion`` is not the stored
  one is refused with 409 Conflict, as is a PATCH carrying a stale one; POST of an
  existing name is 409 AlreadyExists;
* PATCH accepts merge patches and strategic merge patches (applied as merge patches:
  maps merge, ``null`` deletes) and JSON patches; ``/status`` and ``/scale``-less
  subresources address the object itself.

Run: ``python3 tests/peers/kube_peer.py --port N``. ``GET /_peer/requests`` counts the
requests served by method and resource (watches apart; ``POST`` resets it). ``GET
/_peer/stats`` reports how many conflicts were answered (for the lock-race test to show the retries happened).
``POST /_peer/after-get {"path": P, "patch": {...}}`` applies a merge patch to the object
at path P right after the next GET of it has been answered: a concurrent writer placed
exactly between a client's read and its write. ``POST /_peer/forbid {"path": P}`` makes
every later request of path P answer 403 Forbidden, as RBAC does for a user who may not
list namespaces.

Pods' ``log`` subresource is served the way the kubelet answers through the API server:
``container`` (default: the pod's first; another name is 400), ``previous`` (400 when the
container has no previous instance), ``sinceSeconds``, ``sinceTime``, ``tailLines``,
``timestamps`` (RFC 3339 with fractional seconds), and ``follow``: a chunked stream that
tells each new line as it is written and ends when the pod is deleted. A pod's lines are
written with ``POST /_peer/logs {"namespace", "pod", "container", "previous"?: bool,
"lines": [TEXT | {"text", "at"?: RFC 3339}]}`` (``at`` defaults to now);
``POST /_peer/logs/cut`` ends every open follow stream (a dropped connection, which a
client must resume without losing or repeating a line). Events are ordinary objects
(``/api/v1/namespaces/NS/events``); ``fieldSelector`` also takes
``involvedObject.name=`` and ``involvedObject.kind=``.
"""

import argparse
import asyncio
import collections
import copy
import datetime
import json
import os
import re
import signal
import uuid

import aiohttp.web
import jsonpatch
import kmock
from kmock._internal import parsing

# kmock's path parser fails on the cluster-scoped `/api/v1/namespaces` (it takes the
# plural for a namespace segment): such a request then answers 500 before any handler
# runs. This peer addresses objects itself (Peer.address), so a path kmock cannot parse
# is simply not a Kubernetes path to kmock.
_parse_path = parsing.parse_path


def _parse_path_or_plain(path: str) -> parsing.ParsedPath:
    try:
        return _parse_path(path)
    except ValueError:
        return parsing.ParsedPath()


parsing.parse_path = _parse_path_or_plain


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response({
        'apiVersion': 'v1',
        'kind': 'Status',
        'metadata': {},
        'status': 'Failure',
        'code': code,
        'reason': reason,
        'message': message,
    }, status=code)


def parse_selector(text: str):
    """A label selector as a list of predicates over a labels dict."""
    preds = []
    for term in re.findall(r'[^,(]+(?:\([^)]*\))?', text or ''):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r'([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)', term)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(',')}
            if op == 'in':
                preds.append(lambda l, k=key, vs=values: l.get(k) in vs)
            else:
                preds.append(lambda l, k=key, vs=values: l.get(k) not in vs)
        elif '!=' in term:
            key, value = (s.strip() for s in term.split('!=', 1))
            preds.append(lambda l, k=key, v=value: l.get(k) != v)
        elif '=' in term:
            key, value = (s.strip() for s in term.split('=', 1))
            value = value.lstrip('=').strip()
            preds.append(lambda l, k=key, v=value: l.get(k) == v)
        elif term.startswith('!'):
            preds.append(lambda l, k=term[1:].strip(): k not in l)
        else:
            preds.append(lambda l, k=term: k in l)
    return lambda labels: all(p(labels or {}) for p in preds)


class Peer(kmock.KubernetesEmulator):
    """kmock's emulator with resource versions, selectors, PUT and conflicts."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.revision = 0
        self.events = []  # (revision, resource key, namespace, event)
        self.changed = asyncio.Condition()
        self.conflicts = 0
        self.after_get = {}  # path -> merge patch applied right after the next GET of it
        self.forbidden = set()  # paths answered 403 Forbidden
        self.logs = {}  # (namespace, pod, container, previous) -> [(datetime, text)]
        self.log_cuts = 0  # bumped by /_peer/logs/cut: open follow streams end
        self.requests = collections.Counter()  # 'METHOD plural[ watch]' -> requests served

    # --- addressing ---------------------------------------------------------------

    @staticmethod
    def address(path: str):
        """(group, version, plural, namespace, name, subresource) or None for discovery."""
        seg = [s for s in path.split('/') if s]
        if len(seg) >= 2 and seg[0] == 'api':
            group, version, rest = '', seg[1], seg[2:]
        elif len(seg) >= 3 and seg[0] == 'apis':
            group, version, rest = seg[1], seg[2], seg[3:]
        else:
            return None
        if not rest:
            return None
        namespace = None
        if rest[0] == 'namespaces' and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = '/'.join(rest[2:]) or None
        return group, version, plural, namespace, name, sub

    def live(self, res, namespace, name):
        key = (res, namespace, name)
        if key in self.objects:
            obj = self.objects[key]
            if not obj.deleted:
                return obj
        return None

    async def record(self, res, namespace, kind, raw) -> None:
        self.events.append((self.revision, res, namespace, {'type': kind, 'object': raw}))
        async with self.changed:
            self.changed.notify_all()

    def stamp(self, body, old=None) -> None:
        """Take the next revision; keep identity fields; bump generation on spec changes."""
        self.revision += 1
        meta = body.setdefault('metadata', {})
        meta['resourceVersion'] = str(self.revision)
        if old is None:
            meta['uid'] = str(uuid.uuid4())
            meta['creationTimestamp'] = now()
            meta['generation'] = 1
        else:
            old_meta = old.get('metadata', {})
            for k in ('uid', 'creationTimestamp', 'name', 'namespace'):
                if k in old_meta:
                    meta[k] = old_meta[k]
            gen = old_meta.get('generation', 1)
            meta['generation'] = gen + 1 if body.get('spec') != old.get('spec') else gen

    # --- the server ------------------------------------------------------------------

    async def _handle(self, request):
        path = request.url.path
        if path == '/_peer/requests':
            # What clients asked for, by method and resource (watches apart), since the
            # start or the last reset: for counting a client's cost by hand.
            if request.method.value.upper() == 'POST':
                self.requests.clear()
            return aiohttp.web.json_response(dict(sorted(self.requests.items())))
        if path == '/_peer/stats':
            return aiohttp.web.json_response({'conflicts': self.conflicts, 'revision': self.revision})
        if path == '/_peer/after-get' and request.method.value.upper() == 'POST':
            self.after_get[request.data['path']] = request.data['patch']
            return aiohttp.web.json_response({})
        if path == '/_peer/forbid' and request.method.value.upper() == 'POST':
            self.forbidden.add(request.data['path'])
            return aiohttp.web.json_response({})
        if path == '/_peer/logs' and request.method.value.upper() == 'POST':
            return await _write_logs(self, request.data)
        if path == '/_peer/logs/cut' and request.method.value.upper() == 'POST':
            self.log_cuts += 1
            async with self.changed:
                self.changed.notify_all()
            return aiohttp.web.json_response({'cuts': self.log_cuts})
        if path in self.forbidden:
            return status(403, 'Forbidden', f'the user may not {request.method.value} {path}')
        if (path == '/apis/authentication.k8s.io/v1/selfsubjectreviews'
                and request.method.value.upper() == 'POST'):
            # Who the credentials are: a bearer token `user:NAME` authenticates NAME
            # (as a real API server's authenticator would say); any other token falls
            # through to kmock, which does not know this resource.
            auth = request.headers.get('Authorization', '')
            token = auth[len('Bearer '):] if auth.startswith('Bearer ') else ''
            if token.startswith('user:'):
                return aiohttp.web.json_response({
                    'apiVersion': 'authentication.k8s.io/v1',
                    'kind': 'SelfSubjectReview',
                    'metadata': {'creationTimestamp': now()},
                    'status': {'userInfo': {'username': token[len('user:'):],
                                            'groups': ['system:authenticated']}},
                }, status=201)
        addr = self.address(path)
        if addr is None:
            return await super()._handle(request)  # discovery, version: kmock's own
        group, version, plural, namespace, name, sub = addr
        res = kmock.resource(group, version, plural)
        method = request.method.value.upper()
        params = dict(request.params)
        watching = method == 'GET' and params.get('watch') in ('true', '1')
        self.requests[f"{method} {plural}{'/' + sub if sub else ''}{' watch' if watching else ''}"] += 1
        if sub == 'log' and plural == 'pods' and request.method.value.upper() == 'GET':
            return await _serve_log(self, request, namespace, name, dict(request.params))
        if sub not in (None, 'status'):
            return status(404, 'NotFound', f'subresource {sub} is not served by this emulator')
        async with self._lock:
            if method == 'GET' and params.get('watch') in ('true', '1'):
                pass  # streamed below, outside the lock
            elif method == 'GET' and name is None:
                return self.list(res, namespace, params)
            elif method == 'GET':
                obj = self.live(res, namespace, name)
                if obj is None:
                    return status(404, 'NotFound', f'{plural} "{name}" not found')
                response = aiohttp.web.json_response(obj.raw)
                if path in self.after_get:
                    # A concurrent writer, deterministically between this read and
                    # the reader's write.
                    await self.patch(res, namespace, plural, name,
                                     'application/merge-patch+json', self.after_get.pop(path))
                return response
            elif method == 'POST' and name is None:
                return await self.create(res, namespace, plural, request.data)
            elif method == 'PUT' and name is not None:
                return await self.replace(res, namespace, plural, name, request.data)
            elif method == 'PATCH' and name is not None:
                ctype = request.headers.get('Content-Type', '')
                return await self.patch(res, namespace, plural, name, ctype, request.data)
            elif method == 'DELETE' and name is not None:
                return await self.delete(res, namespace, plural, name)
            else:
                return status(405, 'MethodNotAllowed', f'{method} {path} is not served')
        return await self.watch(request, res, namespace, name, params)

    def matching(self, res, namespace, params):
        select = parse_selector(params.get('labelSelector', ''))
        field_name = None
        involved = {}
        for term in (params.get('fieldSelector') or '').split(','):
            if term.startswith('metadata.name='):
                field_name = term.split('=', 1)[1]
            elif term.startswith('involvedObject.'):
                key, value = term[len('involvedObject.'):].split('=', 1)
                involved[key] = value
        for (r, ns, n), obj in list(self.objects.items()):
            if r != res or obj.deleted:
                continue
            if namespace is not None and ns != namespace:
                continue
            if field_name is not None and n != field_name:
                continue
            raw = obj.raw
            if any(raw.get('involvedObject', {}).get(k) != v for k, v in involved.items()):
                continue
            if select(raw.get('metadata', {}).get('labels')):
                yield raw

    def list(self, res, namespace, params):
        meta = {'resourceVersion': str(self.revision)}
        limit = int(params.get('limit') or 0)
        if limit <= 0:
            items = list(self.matching(res, namespace, params))
        else:
            # Pages as the API server gives them: `limit` items, and a `continue` token
            # for the rest (here: the list's revision and the offset, in name order;
            # the sorted list is kept for the pages that follow).
            offset = 0
            token = params.get('continue')
            if token:
                revision, offset = (int(x) for x in token.split(':', 1))
                meta['resourceVersion'] = str(revision)
            key = (res, namespace, params.get('labelSelector'), params.get('fieldSelector'),
                   meta['resourceVersion'])
            if getattr(self, '_paged', (None,))[0] != key:
                items = list(self.matching(res, namespace, params))
                items.sort(key=lambda o: (o.get('metadata', {}).get('namespace') or '',
                                          o.get('metadata', {}).get('name') or ''))
                self._paged = (key, items)
            items = self._paged[1]
            page = items[offset:offset + limit]
            if offset + limit < len(items):
                meta['continue'] = f"{meta['resourceVersion']}:{offset + limit}"
                meta['remainingItemCount'] = len(items) - offset - limit
            items = page
        return aiohttp.web.json_response({
            'apiVersion': 'v1',
            'kind': 'List',
            'metadata': meta,
            'items': items,
        })

    async def create(self, res, namespace, plural, body):
        body = copy.deepcopy(body or {})
        meta = body.setdefault('metadata', {})
        name = meta.get('name')
        if not name:
            return status(422, 'Invalid', 'metadata.name is required')
        ns = namespace or meta.get('namespace')
        if namespace is not None:
            meta['namespace'] = namespace
        if self.live(res, ns, name) is not None:
            return status(409, 'AlreadyExists', f'{plural} "{name}" already exists')
        self.stamp(body)
        key = (res, ns, name)
        if key in self.objects:
            self.objects[key].create(body)
        else:
            self.objects[key] = body
        raw = self.objects[key].raw
        await self.record(res, ns, 'ADDED', raw)
        return aiohttp.web.json_response(raw, status=201)

    async def replace(self, res, namespace, plural, name, body):
        obj = self.live(res, namespace, name)
        if obj is None:
            return status(404, 'NotFound', f'{plural} "{name}" not found')
        body = copy.deepcopy(body or {})
        old = obj.raw
        sent = body.get('metadata', {}).get('resourceVersion')
        stored = old.get('metadata', {}).get('resourceVersion')
        if sent and sent != stored:
            self.conflicts += 1
            return status(409, 'Conflict',
                          f'Operation cannot be fulfilled on {plural} "{name}": the object has '
                          'been modified; please apply your changes to the latest version and try again')
        self.stamp(body, old)
        obj.history.append(body)
        raw = obj.raw
        await self.record(res, namespace, 'MODIFIED', raw)
        return aiohttp.web.json_response(raw)

    async def patch(self, res, namespace, plural, name, ctype, data):
        obj = self.live(res, namespace, name)
        if obj is None:
            return status(404, 'NotFound', f'{plural} "{name}" not found')
        old = obj.raw
        if 'json-patch' in ctype:
            try:
                body = jsonpatch.apply_patch(copy.deepcopy(old), data or [])
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                return status(422, 'Invalid', f'json patch: {e}')
        else:
            if 'apply-patch' in ctype:
                return status(415, 'UnsupportedMediaType', 'server-side apply is not served')
            sent = (data or {}).get('metadata', {}).get('resourceVersion')
            stored = old.get('metadata', {}).get('resourceVersion')
            if sent and sent != stored:
                self.conflicts += 1
                return status(409, 'Conflict', f'Operation cannot be fulfilled on {plural} "{name}": '
                              'the object has been modified')
            body = merge(copy.deepcopy(old), data or {})
        self.stamp(body, old)
        obj.history.append(body)
        raw = obj.raw
        await self.record(res, namespace, 'MODIFIED', raw)
        return aiohttp.web.json_response(raw)

    async def delete(self, res, namespace, plural, name):
        obj = self.live(res, namespace, name)
        if obj is None:
            return status(404, 'NotFound', f'{plural} "{name}" not found')
        raw = copy.deepcopy(obj.raw)
        self.revision += 1
        raw['metadata']['resourceVersion'] = str(self.revision)
        obj.delete()
        await self.record(res, namespace, 'DELETED', raw)
        return aiohttp.web.json_response(raw)

    async def watch(self, request, res, namespace, name, params):
        select = parse_selector(params.get('labelSelector', ''))
        for term in (params.get('fieldSelector') or '').split(','):
            if term.startswith('metadata.name='):
                name = term.split('=', 1)[1]
        since = int(params.get('resourceVersion') or 0)
        timeout = float(params.get('timeoutSeconds') or 300)
        raw_request = request._raw_request
        response = aiohttp.web.StreamResponse(headers={'Content-Type': 'application/json'})
        await response.prepare(raw_request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        position = 0
        # Events after `since` (the log is in revision order).
        while position < len(self.events) and self.events[position][0] <= since:
            position += 1
        try:
            while True:
                while position < len(self.events):
                    rev, r, ns, event = self.events[position]
                    position += 1
                    if r != res or (namespace is not None and ns != namespace):
                        continue
                    meta = event['object'].get('metadata', {})
                    if name is not None and meta.get('name') != name:
                        continue
                    if not select(meta.get('labels')):
                        continue
                    await response.write(json.dumps(event).encode() + b'\n')
                left = deadline - loop.time()
                if left <= 0:
                    break
                async with self.changed:
                    try:
                        await asyncio.wait_for(
                            self.changed.wait_for(lambda: position < len(self.events)), left)
                    except TimeoutError:
                        break
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


def log_time(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


async def _write_logs(peer, data):
    key = (data['namespace'], data['pod'], data['container'], bool(data.get('previous')))
    lines = peer.logs.setdefault(key, [])
    for line in data.get('lines', []):
        if isinstance(line, str):
            line = {'text': line}
        at = parse_time(line['at']) if line.get('at') else datetime.datetime.now(tz=datetime.UTC)
        lines.append((at, line['text']))
    async with peer.changed:
        peer.changed.notify_all()
    return aiohttp.web.json_response({'lines': len(lines)})


async def _serve_log(peer, request, namespace, name, params):
    pods = kmock.resource('', 'v1', 'pods')
    pod = peer.live(pods, namespace, name)
    if pod is None:
        return status(404, 'NotFound', f'pods "{name}" not found')
    containers = [c.get('name') for c in pod.raw.get('spec', {}).get('containers', [])]
    container = params.get('container') or (containers[0] if containers else None)
    if container not in containers:
        return status(400, 'BadRequest', f'container {container} is not valid for pod {name}')
    previous = params.get('previous') in ('true', '1')
    key = (namespace, name, container, previous)
    if previous and key not in peer.logs:
        return status(400, 'BadRequest',
                      f'previous terminated container "{container}" in pod "{name}" not found')
    stamps = params.get('timestamps') in ('true', '1')

    def text(at, line):
        return (log_time(at) + ' ' if stamps else '') + line + '\n'

    lines = list(peer.logs.get(key, []))
    position = len(lines)
    if params.get('sinceSeconds'):
        cutoff = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(
            seconds=int(params['sinceSeconds']))
        lines = [l for l in lines if l[0] >= cutoff]
    elif params.get('sinceTime'):
        cutoff = parse_time(params['sinceTime'])
        lines = [l for l in lines if l[0] >= cutoff]
    if params.get('tailLines') is not None:
        n = int(params['tailLines'])
        lines = lines[-n:] if n > 0 else []
    body = ''.join(text(at, line) for at, line in lines)
    if params.get('follow') not in ('true', '1') or previous:
        return aiohttp.web.Response(text=body, content_type='text/plain')
    response = aiohttp.web.StreamResponse(headers={'Content-Type': 'text/plain'})
    response.enable_chunked_encoding()
    await response.prepare(request._raw_request)
    cuts = peer.log_cuts
    try:
        if body:
            await response.write(body.encode())
        while True:
            async with peer.changed:
                await peer.changed.wait_for(
                    lambda: len(peer.logs.get(key, [])) > position
                    or peer.log_cuts != cuts
                    or peer.live(pods, namespace, name) is not pod)
            new = peer.logs.get(key, [])[position:]
            position += len(new)
            if new:
                await response.write(''.join(text(at, line) for at, line in new).encode())
            if peer.log_cuts != cuts or peer.live(pods, namespace, name) is not pod:
                break
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


def merge(target, patch):
    """RFC 7386 merge patch (strategic merge patches are applied the same way)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge(target.get(key), value)
    return target


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    args = parser.parse_args()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Peer() as peer, kmock.Server(peer, host=args.host, port=args.port):
        print(f'kube peer listening on http://{args.host}:{args.port}', flush=True)
        await stop.wait()
        # A test peer has nothing to save: leave at once instead of draining the open
        # watch streams (each may wait for its timeoutSeconds).
        os._exit(0)


if __name__ == '__main__':
    asyncio.run(main())
