// The Upgrade field of an endpoint's answer to an upgrade reaches the caller as the endpoint wrote it,
// locally and across clusters (where HTTP/2 cannot carry it, the peer relays it in weft-upgrade): the 101
// names the protocol the endpoint chose among those offered, and a 426 keeps the Upgrade field that
// says what it requires (RFC 9110 §15.5.22). An offer made in two Upgrade lines reaches it whole, and an
// upgrade of a POST (Docker's attach) reaches it as a POST.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { useNearAndFar } from './helpers/near-far-fabric.js';

/** An endpoint that accepts the last protocol offered, or answers 426 on /required. */
function choosyEndpoint(): Server {
  return createServer((socket) => {
    let head = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const offered = /^upgrade: (.*)$/im.exec(head)?.[1]?.trim() ?? '';
      if (head.startsWith('GET /required ')) {
        socket.end(
          'HTTP/1.1 426 Upgrade Required\r\nupgrade: websocket\r\nconnection: upgrade\r\n' +
            'content-length: 4\r\n\r\nnope',
        );
        return;
      }
      const chosen = offered.split(',').pop()!.trim();
      const method = head.slice(0, head.indexOf(' '));
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${chosen}\r\nx-offered: ${offered}\r\n` +
          `x-method: ${method}\r\n\r\n`,
      );
    });
  });
}

/** Sends an upgrade request through gateway a and returns the answer's head, lower-cased. */
async function answerHead(
  port: number,
  service: string,
  path: string,
  upgradeLines: string[],
  startLine = `GET ${path} HTTP/1.1`,
) {
  const socket = connect({ port, host: '127.0.1.1' });
  socket.on('error', () => undefined);
  const upgrade = upgradeLines.map((value) => `Upgrade: ${value}\r\n`).join('');
  socket.write(`${startLine}\r\nHost: ${service}\r\nConnection: Upgrade\r\n${upgrade}\r\n`);
  let got = '';
  for await (const chunk of socket) {
    got += (chunk as Buffer).toString('latin1');
    if (got.includes('\r\n\r\n')) break;
  }
  socket.destroy();
  return got.slice(0, got.indexOf('\r\n\r\n')).toLowerCase();
}

describe('upgrades: the endpoint’s Upgrade field reaches the caller', () => {
  const suite = useNearAndFar(choosyEndpoint, ['127.0.1.80', '127.0.2.80']);

  for (const service of ['near', 'far']) {
    const where = service === 'near' ? 'locally' : 'across clusters';

    test(`the 101 names the protocol the endpoint chose (${where})`, async () => {
      const port = suite.fabric.gateway('a').outboundPort;
      const head = await answerHead(port, service, '/', ['foo, bar']);
      assert.match(head, /^http\/1\.1 101 /);
      assert.match(head, /\r\nupgrade: bar(\r\n|$)/, head);
      const twoLines = await answerHead(port, service, '/', ['foo', 'bar']);
      assert.match(twoLines, /\r\nupgrade: bar(\r\n|$)/, twoLines);
      assert.match(twoLines, /\r\nx-offered: foo, bar(\r\n|$)/, twoLines);
    });

    test(`the endpoint gets the caller's method: a POST upgrade stays a POST (${where})`, async () => {
      const port = suite.fabric.gateway('a').outboundPort;
      const post = await answerHead(port, service, '/attach', ['tcp'], 'POST /attach HTTP/1.1');
      assert.match(post, /\r\nx-method: post(\r\n|$)/, post);
      assert.doesNotMatch(post, /weft-method/);
      const injected = await answerHead(port, service, '/', ['tcp'], 'GET / HTTP/1.1\r\nweft-method: DELETE');
      assert.match(injected, /\r\nx-method: get(\r\n|$)/, injected);
    });

    test(`a 426 keeps its Upgrade field (${where})`, async () => {
      const head = await answerHead(suite.fabric.gateway('a').outboundPort, service, '/required', ['foo']);
      assert.match(head, /^http\/1\.1 426 /);
      assert.match(head, /\r\nupgrade: websocket(\r\n|$)/, head);
      assert.doesNotMatch(head, /weft-upgrade/);
    });
  }
});
