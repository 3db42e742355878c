import { type TServiceParams } from "@digital-alchemy/core";

/** Placeholder until the HA bridge lands. */
export function HomeAssistantService(_params: TServiceParams) {
  return {};
}
