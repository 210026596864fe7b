/**
 * Test-local HTTP proxy in front of a kit registry (plain http), used to
 * count what a client sends and to inject the faults real networks and
 * registries produce: error statuses (with Retry-After), connections cut in
 * the middle of a body, slow answers, altered bodies, missing headers,
 * redirects. The Host header is forwarded unchanged, so the registry's
 * absolute upload Locations point back at the proxy.
 */
import { type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the proxy saw. */
export interface ProxyRecord {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Request body bytes received from the client. */
  bytesIn: number;
  /** Status sent back. */
  status: number;
}

/** What to do to one request; the fields combine (a delay, then a cut body, …). */
export interface Fault {
  /** Answer without asking the registry (`chunked`: without Content-Length). */
  respond?: { status: number; headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean };
  /** Close the connection without answering. */
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
  cutAfter?: number;
  /** Send this many body bytes, then nothing more (the connection stays open). */
  stallAfter?: number;
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

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function forward(upstream: URL, req: IncomingMessage, body: Buffer, drop: readonly string[]): Promise<IncomingMessage> {
  const headers: IncomingHttpHeaders = { ...req.headers, 'content-length': String(body.length) };
  for (const h of drop) delete headers[h];
  return new Promise((resolve, reject) => {
    const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, resolve);
    out.on('error', reject);
    out.end(body);
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

async function handle(upstream: URL, rule: FaultRule | undefined, req: IncomingMessage, res: ServerResponse, record: ProxyRecord): Promise<void> {
  const body = await readBody(req);
  record.bytesIn = body.length;
  const fault = rule?.({ method: record.method, path: record.path, query: record.query, headers: req.headers });
  if (fault?.hangUp === true) {
    req.socket.destroy();
    return;
  }
  if (fault?.respond !== undefined) {
    record.status = fault.respond.status;
    await respondDirectly(res, fault.respond);
    return;
  }
  if (fault?.delayMs !== undefined) await new Promise((r) => setTimeout(r, fault.delayMs));
  const up = await forward(upstream, req, body, fault?.dropRequestHeaders ?? []);
  record.status = up.statusCode ?? 502;
  const headers = responseHeaders(up, fault);
  if (fault?.mutateBody === undefined && fault?.cutAfter === undefined && fault?.stallAfter === undefined) {
    res.writeHead(record.status, headers);
    up.pipe(res);
    return;
  }
  let all = await readBody(up);
  if (fault.mutateBody !== undefined) {
    all = fault.mutateBody(all);
    headers['content-length'] = String(all.length);
  }
  res.writeHead(record.status, headers);
  if (fault.cutAfter !== undefined) {
    // Deliver the first bytes, then drop the connection mid-body.
    res.write(all.subarray(0, fault.cutAfter), () => setTimeout(() => res.socket?.destroy(), 30));
  } else if (fault.stallAfter !== undefined) {
    res.write(all.subarray(0, fault.stallAfter));
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
