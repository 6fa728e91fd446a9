/** The process' root pino logger (see logging.ts). */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
