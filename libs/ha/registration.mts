/**
 * synapse patches an entity only while its application is registered in Home Assistant, and
 * never sends a skipped patch later. A value written in the seconds before the registration
 * is confirmed (synapse learns it from HA's device list, refreshed after the integration adds
 * the app), or after an application restart while HA still holds the entity objects of its
 * first registration, would stay unseen. So: watch the registration, and each time it
 * begins, patch every entity with what synapse holds for it.
 */

/** synapse's per-entity store: what HA is sent at registration and in every patch. */
export interface EntityStorage {
  readonly unique_id: string;
  get(field: string): unknown;
  set(field: string, value: unknown): Promise<void>;
  export(): object;
}

/** An entity synapse created, as both apps write to it. */
export interface SynapseEntity {
  storage: EntityStorage;
}

/** Two entity values are the same when their JSON is: a write of the same value is skipped. */
export const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What the watcher needs of an entity: synapse's store of it. */
export interface PublishedEntity {
  storage: Pick<EntityStorage, "unique_id" | "export">;
}

/** How often the registration is looked at. */
export const REGISTRATION_CHECK_MS = 1_000;

/** Watch synapse's registration; on every start of it, patch all `entities()` again. Returns a stop function. */
export function republishOnRegistration(options: {
  isRegistered: () => boolean;
  entities: () => Iterable<PublishedEntity>;
  send: (uniqueId: string, data: object) => Promise<void>;
  every: (ms: number, check: () => void) => () => void;
  onError: (message: string) => void;
}): () => void {
  let registered = false;
  const check = () => {
    const now = options.isRegistered();
    if (now && !registered) {
      for (const { storage } of options.entities()) {
        options.send(storage.unique_id, storage.export()).catch((error: unknown) => {
          options.onError(`republishing ${storage.unique_id} failed: ${error instanceof Error ? error.message : String(error)}`);
        });
      }
    }
    registered = now;
  };
  return options.every(REGISTRATION_CHECK_MS, check);
}
