/**
 * Whether Home Assistant has the synapse integration, and what its absence means, in one
 * line a person can act on (the synapse library itself only logs "synapse extension is not
 * installed" and, later, "application is not registered in hass").
 */

/** True when HA's loaded components include the synapse integration (as the synapse library checks it). */
export function synapseInstalled(components: readonly string[]): boolean {
  return components.some(component => component.startsWith("synapse"));
}

/** The line an app logs when HA has no synapse integration. */
export function synapseMissingMessage(app: string, consequence: string): string {
  return (
    `Home Assistant has no synapse integration ("Digital Alchemy"), so ${app} has no device or entities there: ${consequence}. ` +
    `Install the integration (docs/install.md, "The synapse integration") and restart Home Assistant.`
  );
}
