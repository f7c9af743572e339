// A control-API agent in its own process, for tests that kill it: opens a Hold stream to the address in
// argv[2], registers the service named in argv[3] with endpoint argv[4], prints "registered <id>" and
// then idles until it is killed.
import { RegistryClient, registrationMessage } from '../../gateway/control/index.js';

const [address = '', name = 'agent', endpoint = '127.0.0.1:8080'] = process.argv.slice(2);
const client = new RegistryClient(address);
const stream = client.hold();
stream.on('data', (response: { registered?: string }) => {
  if (response.registered) console.log(`registered ${response.registered}`);
});
stream.on('error', (err: Error) => {
  console.error(`hold stream failed: ${err.message}`);
  process.exit(1);
});
stream.write({ register: registrationMessage({ name, endpoints: [endpoint] }) });
setInterval(() => {}, 60_000);
