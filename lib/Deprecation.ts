/** The inert deprecation helper WebSocket-Node exports: its warning map is empty, so it never prints. */
const deprecation: {
  /** Set to true to silence every warning. */
  disableWarnings: boolean;
  /** Warning texts by name; empty, as upstream's. */
  deprecationWarningMap: Record<string, string>;
  /** Prints the named warning once, unless disabled or unknown. */
  warn(deprecationName: string): void;
} = {
  disableWarnings: false,
  deprecationWarningMap: {},
  warn(deprecationName: string): void {
    const message = this.deprecationWarningMap[deprecationName];
    if (!this.disableWarnings && message !== undefined && message !== '') {
      console.warn('DEPRECATION WARNING: ' + message);
      // Printed once per name, as upstream: forget the text after the first warning.
      this.deprecationWarningMap[deprecationName] = '';
    }
  },
};

export = deprecation;
