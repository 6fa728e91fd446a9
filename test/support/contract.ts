/** One driver of a storage port: start its store, get a fresh repository on it, stop it. */
export interface ContractDriver<Repo> {
  start(): Promise<void>;
  /** Empties the store and returns a repository on it. */
  fresh(): Promise<Repo>;
  stop(): Promise<void>;
}

/** What the cases see: the driver of the running suite and the repository of the running test. */
export interface ContractContext<Driver extends ContractDriver<unknown>> {
  readonly driver: Driver;
  /** `driver.fresh()`, made anew before each test; a test may replace it (e.g. with other options). */
  repo: Awaited<ReturnType<Driver['fresh']>>;
}

/**
 * Runs the same cases once per driver, each as `describe('<title> (<driver name>)')`:
 * the driver is started before that suite's tests and stopped after them, and
 * `t.repo` is a fresh repository before each test.
 */
export function describeContract<Driver extends ContractDriver<unknown>>(
  title: string,
  drivers: Record<string, () => Driver>,
  cases: (t: ContractContext<Driver>) => void,
): void {
  for (const [name, makeDriver] of Object.entries(drivers)) {
    describe(`${title} (${name})`, () => {
      const t = { driver: makeDriver() } as ContractContext<Driver>;

      beforeAll(async () => {
        await t.driver.start();
      });

      afterAll(async () => {
        await t.driver.stop();
      });

      beforeEach(async () => {
        t.repo = (await t.driver.fresh()) as ContractContext<Driver>['repo'];
      });

      cases(t);
    });
  }
}
