/** A set of listeners that one failing listener cannot break: its error is reported, the others still hear. */

type Listener<T> = (value: T) => void;

/** Listeners of one kind of value; `onError` hears what a listener threw. */
export function listeners<T>(onError: (error: unknown) => void) {
  const set = new Set<Listener<T>>();
  return {
    add(listener: Listener<T>) {
      set.add(listener);
      return () => void set.delete(listener);
    },
    emit(value: T) {
      for (const listener of set) {
        try {
          listener(value);
        } catch (error) {
          onError(error);
        }
      }
    },
  };
}
