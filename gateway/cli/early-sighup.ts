// A SIGHUP that reaches `weft gateway` before the gateway's own handler exists (while modules load and the
// config is read) is refused with a line on stderr instead of ending the process, Node's default for a
// SIGHUP nobody handles. The entry point installs the refusal before it loads anything else; the gateway
// command hands over to its own handler once that is installed.

let refusal: (() => void) | undefined;

/**
 * Refuses SIGHUP from now on; idempotent. Returns the function that removes the refusal: call it once
 * another SIGHUP handler is installed, so that there is never a moment without one.
 */
export function refuseEarlySighup(): () => void {
  if (refusal === undefined) {
    refusal = () =>
      console.error(
        'weft: config reload rejected: the gateway is still starting; send SIGHUP again once it has logged "gateway started"',
      );
    process.on('SIGHUP', refusal);
  }
  return () => {
    if (refusal !== undefined) process.off('SIGHUP', refusal);
    refusal = undefined;
  };
}
