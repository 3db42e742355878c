/**
 * HA's entity components the drone's entities belong to, with their services as
 * homeassistant/components/{button,number,select,text,switch}/__init__.py define them:
 * the schema, the checks HA makes before the entity sees the call, and what HA writes
 * itself (a button's state is the time of its last press). Also persistent_notification.
 */
import { z } from "zod";

import { entityServiceSchema, type HassCore, type LiveEntity, ServiceCallError } from "./core.mjs";
import { haTime, type HassContext, pythonNumber } from "./model.mjs";

/** A persistent notification (not an entity since HA 2023.6). */
export interface Notification {
  notification_id: string;
  title: string | null;
  message: string;
  created_at: string;
}

/** `vol.Coerce(float)`: a number, or a string that parses as one. */
const coerceFloat = z.union([
  z.number(),
  z
    .string()
    .trim()
    .regex(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, "expected float")
    .transform(Number),
]);

const capability = (entity: LiveEntity, key: string): unknown => entity.render().capabilityAttributes?.[key];
const numberOf = (value: unknown, fallback: number) => (typeof value === "number" ? value : fallback);

/** Register the components' services on the core; returns the notification list. */
export function registerComponents(core: HassCore) {
  const notifications = new Map<string, Notification>();
  const each = (domain: string, data: Record<string, unknown>, run: (entity: LiveEntity) => void) => {
    for (const entity of core.targetEntities(domain, data)) run(entity);
  };

  // button: HA writes the press time as the state, then lets the entity act (ButtonEntity._async_press_action)
  core.registerService("button", "press", {
    schema: entityServiceSchema(),
    description: { name: "Press", description: "Press the button entity.", fields: {}, target: { entity: [{ domain: ["button"] }] } },
    handler: ({ data, context }) =>
      each("button", data, entity => {
        entity.lastPressed = haTime();
        core.writeEntityState(entity, context);
        entity.act("press", {});
      }),
  });

  core.registerService("number", "set_value", {
    schema: entityServiceSchema({ value: coerceFloat }),
    description: {
      name: "Set",
      description: "Sets the value of a number.",
      fields: { value: { required: true, selector: { text: null } } },
      target: { entity: [{ domain: ["number"] }] },
    },
    handler: ({ data }) =>
      each("number", data, entity => {
        const value = Number(data.value);
        const min = numberOf(capability(entity, "min"), 0);
        const max = numberOf(capability(entity, "max"), 100);
        if (value < min || value > max) {
          throw new ServiceCallError(
            "service_validation_error",
            `Validation error: Value ${pythonNumber(value, true)} for ${entity.entityId} is outside valid range ${pythonNumber(min, false)} - ${pythonNumber(max, false)}`,
          );
        }
        entity.act("set_value", { value });
      }),
  });

  const optionsOf = (entity: LiveEntity): string[] => {
    const options = capability(entity, "options");
    return Array.isArray(options) ? options.filter((option): option is string => typeof option === "string") : [];
  };
  const selectOption = (entity: LiveEntity, option: string) => {
    const options = optionsOf(entity);
    if (!options.includes(option)) {
      throw new ServiceCallError(
        "service_validation_error",
        `Validation error: Option ${option} is not valid for entity ${entity.entityId}, valid options are: ${options.join(", ")}`,
      );
    }
    entity.act("select_option", { option });
  };
  const selectDescription = (name: string, fields: Record<string, unknown> = {}) => ({
    name,
    description: `${name} of a select.`,
    fields,
    target: { entity: [{ domain: ["select"] }] },
  });
  core.registerService("select", "select_option", {
    schema: entityServiceSchema({ option: z.string() }),
    description: selectDescription("Select", { option: { required: true, selector: { text: null } } }),
    handler: ({ data }) => each("select", data, entity => selectOption(entity, String(data.option))),
  });
  for (const [service, pick] of [
    ["select_first", (options: string[]) => options[0]],
    ["select_last", (options: string[]) => options.at(-1)],
  ] as const) {
    core.registerService("select", service, {
      schema: entityServiceSchema(),
      description: selectDescription(service),
      handler: ({ data }) =>
        each("select", data, entity => {
          const option = pick(optionsOf(entity));
          if (option !== undefined) selectOption(entity, option);
        }),
    });
  }
  for (const [service, step] of [
    ["select_next", 1],
    ["select_previous", -1],
  ] as const) {
    core.registerService("select", service, {
      schema: entityServiceSchema({ cycle: z.boolean().default(true) }),
      description: selectDescription(service, { cycle: { default: true, selector: { boolean: null } } }),
      handler: ({ data }) =>
        each("select", data, entity => {
          const options = optionsOf(entity);
          const current = entity.render().state;
          const index = typeof current === "string" ? options.indexOf(current) : -1;
          let next = index + step;
          if (next < 0 || next >= options.length) next = data.cycle === false ? Math.max(0, Math.min(options.length - 1, next)) : (next + options.length) % options.length;
          const option = index === -1 ? options[step > 0 ? 0 : options.length - 1] : options[next];
          if (option !== undefined) selectOption(entity, option);
        }),
    });
  }

  core.registerService("text", "set_value", {
    schema: entityServiceSchema({ value: z.string() }),
    description: {
      name: "Set value",
      description: "Sets the value.",
      fields: { value: { required: true, selector: { text: null } } },
      target: { entity: [{ domain: ["text"] }] },
    },
    handler: ({ data }) =>
      each("text", data, entity => {
        const value = String(data.value);
        const min = numberOf(capability(entity, "min"), 0);
        const max = numberOf(capability(entity, "max"), 255);
        const pattern = capability(entity, "pattern");
        if (value.length < min) throw new ServiceCallError("service_validation_error", `Validation error: Value ${value} for ${entity.entityId} is too short (minimum length ${min})`);
        if (value.length > max) throw new ServiceCallError("service_validation_error", `Validation error: Value ${value} for ${entity.entityId} is too long (maximum length ${max})`);
        if (typeof pattern === "string" && !new RegExp(pattern).test(value)) {
          throw new ServiceCallError("service_validation_error", `Validation error: Value ${value} for ${entity.entityId} doesn't match pattern ${pattern}`);
        }
        entity.act("set_value", { value });
      }),
  });

  // switch: toggle is turn_off when on, turn_on otherwise (ToggleEntity.async_toggle)
  const switchDescription = (name: string) => ({ name, description: `${name} a switch.`, fields: {}, target: { entity: [{ domain: ["switch"] }] } });
  core.registerService("switch", "turn_on", {
    schema: entityServiceSchema(),
    description: switchDescription("Turn on"),
    handler: ({ data }) => each("switch", data, entity => entity.act("turn_on", {})),
  });
  core.registerService("switch", "turn_off", {
    schema: entityServiceSchema(),
    description: switchDescription("Turn off"),
    handler: ({ data }) => each("switch", data, entity => entity.act("turn_off", {})),
  });
  core.registerService("switch", "toggle", {
    schema: entityServiceSchema(),
    description: switchDescription("Toggle"),
    handler: ({ data }) => each("switch", data, entity => entity.act(entity.render().state === "on" ? "turn_off" : "turn_on", {})),
  });

  // persistent_notification: kept in memory, announced to `persistent_notifications_updated` listeners
  const notify = (type: "added" | "removed", notification: Notification, context: HassContext) =>
    core.fire("persistent_notifications_updated", { type, notifications: { [notification.notification_id]: notification } }, "LOCAL", context);
  core.registerService("persistent_notification", "create", {
    schema: z.strictObject({ message: z.string(), title: z.string().optional(), notification_id: z.string().optional() }),
    description: { name: "Create", description: "Shows a notification on the notifications panel.", fields: { message: { required: true }, title: {}, notification_id: {} } },
    handler: ({ data, context }) => {
      const notification: Notification = {
        notification_id: typeof data.notification_id === "string" ? data.notification_id : `${Date.now()}`,
        title: typeof data.title === "string" ? data.title : null,
        message: String(data.message),
        created_at: haTime(),
      };
      notifications.set(notification.notification_id, notification);
      notify("added", notification, context);
    },
  });
  core.registerService("persistent_notification", "dismiss", {
    schema: z.strictObject({ notification_id: z.string() }),
    description: { name: "Dismiss", description: "Deletes a notification from the notifications panel.", fields: { notification_id: { required: true } } },
    handler: ({ data, context }) => {
      const notification = notifications.get(String(data.notification_id));
      if (!notification) return;
      notifications.delete(notification.notification_id);
      notify("removed", notification, context);
    },
  });
  core.registerService("persistent_notification", "dismiss_all", {
    schema: z.strictObject({}),
    description: { name: "Dismiss all", description: "Deletes all notifications from the notifications panel.", fields: {} },
    handler: ({ context }) => {
      for (const notification of [...notifications.values()]) {
        notifications.delete(notification.notification_id);
        notify("removed", notification, context);
      }
    },
  });

  return { notifications: () => [...notifications.values()], clearNotifications: () => notifications.clear() };
}
