/**
 * Whether Home Assistant has loaded the synapse integration, and what its absence means, in
 * one line a person can act on. HA sets a custom integration up only once it has a config
 * entry: the integration is missing from HA's components both when it is not installed and
 * when it is installed but no app has been added to it yet (the synapse library then logs
 * "synapse extension is not installed" either way).
 */

/** True when HA's loaded components include the synapse integration (as the synapse library checks it). */
export function synapseLoaded(components: readonly string[]): boolean {
  return components.some(component => component.startsWith("synapse"));
}

/** The line an app logs when HA has not loaded the synapse integration. */
export function synapseMissingMessage(app: string, consequence: string): string {
  return (
    `Home Assistant has not loaded the synapse integration ("Digital Alchemy"): it is not installed, or no app has been added to it yet. ` +
    `Until ${app} is added, it has no device or entities there: ${consequence}. ` +
    `Install the integration (docs/install.md, "The synapse integration"), then add ${app}: Settings → Devices & services → Add integration → Digital Alchemy.`
  );
}
