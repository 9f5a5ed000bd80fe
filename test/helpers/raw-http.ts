import { connect } from 'node:net';

/** An HTTP/1.1 answer as the server wrote it: status, headers (names lower-cased) and body. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One HTTP/1.1 request as raw bytes over a fresh connection, for what fetch cannot send (repeated or malformed
 * headers, a half-closed socket). `lines` are the request line and headers; Content-Length is added.
 * `halfClose`: end our side of the connection right after the request (TCP half-close) and send no
 * `Connection: close`, so only the half-close says that no other request follows. Resolves with the answer once
 * the server closes the connection; an empty answer has status 0.
 */
export function rawRequest(port: number, lines: string[], body = '', opts: { halfClose?: boolean } = {}): Promise<RawAnswer> {
  const head = [...lines, `Content-Length: ${Buffer.byteLength(body)}`, ...(opts.halfClose ? [] : ['Connection: close']), '', ''].join('\r\n');
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    // With allowHalfOpen the server's FIN does not close our side: do it, so that 'close' follows.
    sock.on('end', () => sock.end());
    sock.on('close', () => {
      const all = Buffer.concat(chunks).toString('utf8');
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return resolve({ status: 0, headers: {}, body: all });
      const hl = all.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of hl.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(hl[0]!.split(' ')[1]), headers, body: all.slice(end + 4) });
    });
    if (opts.halfClose) sock.end(head + body);
    else sock.write(head + body);
  });
}
