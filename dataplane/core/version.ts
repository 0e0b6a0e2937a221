/** VERSION is Portico's version, printed by `-v` and in the Server header. */
export const VERSION = '0.1.0';
export const NAME = 'portico';
