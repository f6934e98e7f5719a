import { connect } from 'node:net';

/** An HTTP/1.1 answer as read off the socket: status, headers (lower-case names; repeated ones joined with ", "), body. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `request` (a whole HTTP/1.1 message with `Connection: close`) as raw bytes over a new
 * connection to 127.0.0.1:`port`, and reads the answer until the server closes the connection.
 */
export function rawRequest(port: number, request: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split).split('\r\n');
      const status = Number(head[0]?.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim().toLowerCase();
        headers[name] = headers[name] === undefined ? line.slice(i + 1).trim() : `${headers[name]}, ${line.slice(i + 1).trim()}`;
      }
      resolve({ status, headers, body: text.slice(split + 4) });
    });
    // Not end(): a half-closed socket makes node:http drop a request still being answered.
    // `Connection: close` has the server close it after the answer.
    socket.write(request);
  });
}
