// `weft check`'s peer checks: every other cluster's gateway that the registry lists is dialled over
// mTLS with this gateway's own certificate, exactly as the data plane would, and must (1) answer, (2)
// prove the SPIFFE identity of the cluster its record claims, (3) present a certificate from this
// fabric's trust anchor and (4) accept ours — shown by a full HTTP/2 preface and SETTINGS exchange,
// because under TLS 1.3 a server rejects a client certificate only after the client saw the handshake
// complete.
import { connect, type TLSSocket } from 'node:tls';
import type { DirectoryGateway } from '../../../discovery/index.js';
import { checkServerIdentityFor, gatewayDnsNameFor, spiffeIdFor } from '../../../infra/index.js';
import { parseHostPort, type GatewayConfig } from '../../config/index.js';
import { fail, ok, warn, type Finding } from './check-result.js';
import type { LoadedTls } from './tls-checks.js';

/** The client connection preface and an empty SETTINGS frame (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

function classify(peer: DirectoryGateway, err: NodeJS.ErrnoException, config: GatewayConfig): Finding {
  const where = `${peer.cluster}/${peer.id} at ${peer.peerAddress}`;
  const code = err.code ?? '';
  const message = err.message;
  if (code === 'PEER_IDENTITY') {
    return fail(
      `${where}: ${message} — the registry's address leads to another gateway`,
      `a stale or poisoned record: check that ${peer.cluster}'s gateway advertises its own address (advertise/listen.peer) and runs a certificate for cluster ${peer.cluster}`,
    );
  }
  if (
    ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE'].includes(code) &&
    !/alert/i.test(message)
  ) {
    return fail(
      `${where} is unreachable: ${code}`,
      `is ${peer.cluster}'s gateway running? it advertises ${peer.peerAddress}: check its listen.peer/advertise and any firewall between the clusters`,
    );
  }
  if (
    /UNABLE_TO_VERIFY|SELF_SIGNED|unable to get (local )?issuer|certificate signature failure|CERT_/i.test(
      `${code} ${message}`,
    )
  ) {
    return fail(
      `${where} presents a certificate that does not chain to ${config.tls.ca} (${code || message})`,
      `${peer.cluster} uses another trust anchor: every gateway of the fabric must share one ca.pem and have certificates issued from it`,
    );
  }
  if (/alert|certificate required|unknown ca|bad certificate|decrypt/i.test(message)) {
    return fail(
      `${where} refused this gateway's certificate (${message})`,
      `${peer.cluster} trusts another anchor than ${config.tls.ca}: use the fabric's shared ca.pem on both sides`,
    );
  }
  return fail(`${where}: ${message || code}`, `check ${peer.cluster}'s gateway log and its listen.peer`);
}

/** Dials one peer gateway; resolves with a finding, never rejects. */
export function checkPeer(
  peer: DirectoryGateway,
  config: GatewayConfig,
  tls: LoadedTls,
  timeoutMs: number,
): Promise<Finding> {
  const expected = { trustDomain: config.trustDomain, cluster: peer.cluster };
  const address = parseHostPort(peer.peerAddress);
  if (!address) {
    // Registry records are validated as host:port when read, so this is a record of another format.
    return Promise.resolve(
      fail(
        `${peer.cluster}/${peer.id} advertises "${peer.peerAddress}", which is not host:port`,
        `check ${peer.cluster}'s listen.peer/advertise`,
      ),
    );
  }
  const { host, port } = address;
  return new Promise((resolve) => {
    const started = performance.now();
    let settled = false;
    let socket: TLSSocket | undefined;
    const finish = (finding: Finding) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(finding);
    };
    const timer = setTimeout(
      () =>
        finish(
          fail(
            `${peer.cluster}/${peer.id} at ${peer.peerAddress} did not complete an mTLS handshake within ${timeoutMs} ms`,
            `the gateway may be frozen or a firewall drops packets to ${peer.peerAddress}`,
          ),
        ),
      timeoutMs,
    );
    try {
      socket = connect({
        host,
        port,
        ca: tls.pem.ca,
        cert: tls.pem.cert,
        key: tls.pem.key,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.3',
        servername: gatewayDnsNameFor(config.trustDomain, peer.cluster),
        checkServerIdentity: checkServerIdentityFor(expected),
      });
    } catch (err) {
      finish(classify(peer, err as NodeJS.ErrnoException, config));
      return;
    }
    let secured = false;
    socket.once('secureConnect', () => {
      secured = true;
      socket?.write(H2_PREFACE);
    });
    // The server's SETTINGS frame arrives only once it accepted our certificate.
    socket.once('data', () => {
      const ms = performance.now() - started;
      finish(
        ok(
          `${peer.peerAddress} mTLS ok, proves ${spiffeIdFor(expected.trustDomain, expected.cluster)} (${ms.toFixed(1)} ms)`,
        ),
      );
    });
    socket.once('error', (err: NodeJS.ErrnoException) => finish(classify(peer, err, config)));
    socket.once('close', () =>
      finish(
        secured
          ? fail(
              `${peer.cluster}/${peer.id} at ${peer.peerAddress} refused this gateway's certificate (closed the connection right after the TLS handshake)`,
              `${peer.cluster} trusts another anchor than ${config.tls.ca}, or refuses this cluster: use the fabric's shared ca.pem on both sides`,
            )
          : fail(
              `${peer.cluster}/${peer.id} at ${peer.peerAddress} closed the connection during the TLS handshake`,
              `is ${peer.peerAddress} a weft peer listener (TLS 1.3, h2)? check ${peer.cluster}'s listen.peer/advertise`,
            ),
      ),
    );
  });
}

/** A registry gateway whose lease ended: not dialled, reported. */
export function stalePeer(peer: DirectoryGateway, serverTimeMs: number): Finding {
  const ago =
    peer.leaseExpiresAt === null
      ? 'has no lease'
      : `lease expired ${Math.round((serverTimeMs - peer.leaseExpiresAt) / 1000)}s ago`;
  return warn(
    `${peer.cluster}/${peer.id} (${peer.peerAddress}) ${ago}; not dialled`,
    `the gateway is down or cannot reach Redis; it is evicted after discovery.staleFor`,
  );
}
