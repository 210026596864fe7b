/**
 * Test-local HTTP proxy in front of a kit registry (plain http), used to
 * count what a client sends and to inject the faults real networks and
 * registries produce: error statuses (with Retry-After), connections cut in
 * the middle of a body (the answer's or the request's), slow answers
 * (delayed, trickled), stalled answers, bodies that end early, a lying
 * Content-Length, altered bodies (either way), missing headers, answers
 * lost after the registry acted. The Host header is forwarded unchanged, so
 * the registry's absolute upload Locations point back at the proxy.
 */
import { type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES, createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request the proxy saw. */
export interface ProxyRecord {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Request body bytes received from the client. */
  bytesIn: number;
  /** Status sent back (0 when no answer was sent). */
  status: number;
}

/** A byte count, or a function of the body's real length (`(n) => n >> 1`: half of it). */
export type ByteCount = number | ((length: number) => number);

/**
 * What to do to one request; the fields combine (a delay, then a cut body,
 * …). Request-side faults act on what the registry receives; the others on
 * the answer the client gets.
 */
export interface Fault {
  /** Answer without asking the registry (`chunked`: without Content-Length). */
  respond?: { status: number; headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean };
  /** Close the connection without answering (after reading the request). */
  hangUp?: boolean;
  /** Pause before forwarding. */
  delayMs?: number;
  /** Request headers not passed to the registry (e.g. `range`, to play a server that ignores it). */
  dropRequestHeaders?: readonly string[];
  /** Response headers dropped. */
  stripHeaders?: readonly string[];
  /** Response headers set or replaced. */
  setHeaders?: Record<string, string>;
  /** The response body replaced by a function of it (Content-Length fixed up). */
  mutateBody?: (body: Buffer) => Buffer;
  /** Close the connection after this many body bytes. */
  cutAfter?: ByteCount;
  /** Send this many body bytes, then nothing more (the connection stays open). */
  stallAfter?: ByteCount;

  /** Request side: read this many bytes of the request body, then drop the connection (a reset mid-upload). */
  cutRequestAfter?: ByteCount;
  /** Request side: the body the registry gets, as a function of the one the client sent (Content-Length fixed up). */
  mutateRequest?: (body: Buffer) => Buffer;
  /** Request side: forward the whole body under this Content-Length (a lie; on a connection of its own, closed after). */
  requestContentLength?: (length: number) => number;
  /** Forward the request, then throw the registry's answer away and close the connection (`close`) or never answer (`hold`). */
  dropAnswer?: 'close' | 'hold';

  /**
   * The answer written byte by byte on the socket (status line and headers
   * included), `bytes` every `everyMs`; the connection is closed after it.
   */
  trickle?: { bytes: number; everyMs: number };
  /** Announce this Content-Length (a function of the real one) and send the real body; `afterBody` says what follows. */
  contentLength?: (length: number) => number;
  /** End the body cleanly after this many bytes (chunked encoding: the client sees a normal end). */
  endAfter?: ByteCount;
  /** Send this many bytes of the answer's head (status line and headers), then nothing more. */
  stallHead?: number;
  /** After a raw answer (trickle, contentLength, endAfter): close the connection (default) or keep it open, saying nothing. */
  afterBody?: 'close' | 'hold';
}

/** Decides per request (keep counters in the closure to fault only the first N). */
export type FaultRule = (req: { method: string; path: string; query: URLSearchParams; headers: IncomingHttpHeaders }) => Fault | undefined;

export interface FaultProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  records: ProxyRecord[];
  setRule(rule: FaultRule | undefined): void;
  stop(): Promise<void>;
}

const count = (c: ByteCount, length: number): number => Math.max(0, Math.min(length, Math.floor(typeof c === 'function' ? c(length) : c)));

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Reads `limit` bytes of the request body (of `length` announced), then destroys the connection. */
function cutRequest(req: IncomingMessage, limit: ByteCount): Promise<number> {
  const length = Number(req.headers['content-length'] ?? 0);
  const stopAt = count(limit, Number.isSafeInteger(length) ? length : 0);
  return new Promise((resolve) => {
    let got = 0;
    const cut = (): void => {
      req.socket.destroy();
      resolve(Math.min(got, stopAt));
    };
    if (stopAt === 0) return cut();
    req.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= stopAt) cut();
    });
    req.on('end', cut);
    req.on('error', cut);
  });
}

function forward(upstream: URL, req: IncomingMessage, body: Buffer, fault: Fault | undefined): Promise<IncomingMessage> {
  const sent = fault?.mutateRequest !== undefined ? fault.mutateRequest(body) : body;
  const lie = fault?.requestContentLength;
  const headers: IncomingHttpHeaders = { ...req.headers, 'content-length': String(lie !== undefined ? Math.max(0, Math.floor(lie(sent.length))) : sent.length) };
  for (const h of fault?.dropRequestHeaders ?? []) delete headers[h];
  // A lying request poisons its connection: it gets one of its own, closed after.
  if (lie !== undefined) headers.connection = 'close';
  return new Promise((resolve, reject) => {
    const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, ...(lie !== undefined ? { agent: false } : {}) }, resolve);
    out.on('error', reject);
    out.end(sent);
  });
}

function responseHeaders(from: IncomingMessage, fault: Fault | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(from.headers)) {
    if (v !== undefined && !(fault?.stripHeaders ?? []).includes(k) && k !== 'transfer-encoding' && k !== 'connection') out[k] = v;
  }
  return { ...out, ...fault?.setHeaders };
}

async function respondDirectly(res: ServerResponse, r: NonNullable<Fault['respond']>): Promise<void> {
  const body = Buffer.from(r.body ?? '');
  if (r.chunked === true) {
    res.writeHead(r.status, r.headers ?? {});
    res.write(body.subarray(0, body.length >> 1));
    res.end(body.subarray(body.length >> 1));
    return;
  }
  res.writeHead(r.status, { 'content-length': String(body.length), ...r.headers });
  res.end(body);
}

/** True when the answer is written by hand on the socket rather than through `res`. */
function isRaw(fault: Fault | undefined): boolean {
  return fault?.trickle !== undefined || fault?.contentLength !== undefined || fault?.endAfter !== undefined || fault?.stallHead !== undefined;
}

/**
 * Writes an answer by hand: the head, then the body framed as the fault
 * says (a lying Content-Length, or chunks that end early), all of it at
 * once, trickled, or stopped inside the head. A HEAD answer has no body.
 * The server's `res` is never used, so the connection serves no other
 * request: it is closed at the end (or held open).
 */
function writeRaw(socket: Socket, method: string, status: number, headers: Record<string, string | string[]>, body: Buffer, fault: Fault): void {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`];
  for (const [k, v] of Object.entries(headers)) {
    if (k === 'content-length' || k === 'transfer-encoding' || k === 'connection') continue;
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  }
  let payload = method === 'HEAD' ? Buffer.alloc(0) : body;
  if (fault.endAfter !== undefined) {
    lines.push('transfer-encoding: chunked');
    const part = payload.subarray(0, count(fault.endAfter, payload.length));
    payload = Buffer.concat([part.length > 0 ? Buffer.from(`${part.length.toString(16)}\r\n`) : Buffer.alloc(0), part, Buffer.from(part.length > 0 ? '\r\n0\r\n\r\n' : '0\r\n\r\n')]);
    if (method === 'HEAD') payload = Buffer.alloc(0);
  } else {
    const real = method === 'HEAD' ? Number(headers['content-length'] ?? 0) : payload.length;
    lines.push(`content-length: ${fault.contentLength !== undefined ? Math.max(0, Math.floor(fault.contentLength(real))) : real}`);
  }
  // An honest trickle says the connection ends with it; a lie does not warn.
  if (fault.contentLength === undefined) lines.push('connection: close');
  const all = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
  const finish = (): void => {
    if (fault.afterBody !== 'hold' && !socket.destroyed) socket.end();
  };
  if (fault.stallHead !== undefined) {
    socket.write(all.subarray(0, Math.min(fault.stallHead, all.length - payload.length)));
    return;
  }
  if (fault.trickle === undefined) {
    socket.write(all, finish);
    return;
  }
  const { bytes, everyMs } = fault.trickle;
  let at = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.once('close', () => clearTimeout(timer));
  const step = (): void => {
    if (socket.destroyed) return;
    const piece = all.subarray(at, at + Math.max(1, bytes));
    at += piece.length;
    if (at >= all.length) {
      socket.write(piece, finish);
      return;
    }
    socket.write(piece);
    timer = setTimeout(step, everyMs);
  };
  step();
}

/** Reads the request (or cuts it); undefined when the fault dropped the connection. */
async function requestBody(req: IncomingMessage, fault: Fault | undefined, record: ProxyRecord): Promise<Buffer | undefined> {
  if (fault?.cutRequestAfter !== undefined) {
    record.bytesIn = await cutRequest(req, fault.cutRequestAfter);
    return undefined;
  }
  const body = await readBody(req);
  record.bytesIn = body.length;
  if (fault?.hangUp === true) {
    req.socket.destroy();
    return undefined;
  }
  return body;
}

async function handle(upstream: URL, rule: FaultRule | undefined, req: IncomingMessage, res: ServerResponse, record: ProxyRecord): Promise<void> {
  const fault = rule?.({ method: record.method, path: record.path, query: record.query, headers: req.headers });
  const body = await requestBody(req, fault, record);
  if (body === undefined) return;
  if (fault?.respond !== undefined) {
    record.status = fault.respond.status;
    if (isRaw(fault)) {
      writeRaw(req.socket, record.method, fault.respond.status, { ...fault.respond.headers }, Buffer.from(fault.respond.body ?? ''), fault);
      return;
    }
    await respondDirectly(res, fault.respond);
    return;
  }
  if (fault?.delayMs !== undefined) await new Promise((r) => setTimeout(r, fault.delayMs));
  const up = await forward(upstream, req, body, fault);
  record.status = up.statusCode ?? 502;
  if (fault?.dropAnswer !== undefined) {
    // The registry acted on the request; the client never learns how it went.
    await readBody(up);
    record.status = 0;
    if (fault.dropAnswer === 'close') req.socket.destroy();
    return;
  }
  const headers = responseHeaders(up, fault);
  if (fault === undefined || (fault.mutateBody === undefined && fault.cutAfter === undefined && fault.stallAfter === undefined && !isRaw(fault))) {
    res.writeHead(record.status, headers);
    up.pipe(res);
    return;
  }
  let all = await readBody(up);
  if (fault.mutateBody !== undefined) {
    all = fault.mutateBody(all);
    headers['content-length'] = String(all.length);
  }
  if (isRaw(fault)) {
    writeRaw(req.socket, record.method, record.status, headers, all, fault);
    return;
  }
  res.writeHead(record.status, headers);
  if (fault.cutAfter !== undefined) {
    // Deliver the first bytes, then drop the connection mid-body.
    res.write(all.subarray(0, count(fault.cutAfter, all.length)), () => setTimeout(() => res.socket?.destroy(), 30));
  } else if (fault.stallAfter !== undefined) {
    res.write(all.subarray(0, count(fault.stallAfter, all.length)));
  } else {
    res.end(all);
  }
}

/** Starts a proxy on 127.0.0.1 forwarding to `upstream` (`http://127.0.0.1:PORT`). */
export async function startFaultProxy(upstream: string, rule?: FaultRule): Promise<FaultProxy> {
  const target = new URL(upstream);
  let current = rule;
  const records: ProxyRecord[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const record: ProxyRecord = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, bytesIn: 0, status: 0 };
    records.push(record);
    handle(target, current, req, res, record).catch(() => res.socket?.destroy());
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    records,
    setRule: (r) => {
      current = r;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Records of blob and manifest traffic only (pings and token requests left out). */
export function apiRecords(records: readonly ProxyRecord[]): ProxyRecord[] {
  return records.filter((r) => r.path !== '/v2/' && r.path.startsWith('/v2/'));
}
