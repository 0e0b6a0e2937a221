/** ConfError is a configuration error with nginx's wording; `where` is "file:line" when known. */
export class ConfError extends Error {
  readonly code = 'PORTICO_ERR_CONF';
  readonly file: string | undefined;
  readonly line: number | undefined;
  constructor(message: string, file?: string, line?: number) {
    super(file !== undefined ? `${message} in ${file}${line !== undefined ? `:${line}` : ''}` : message);
    this.name = 'ConfError';
    this.file = file;
    this.line = line;
  }
}

/** SysError formats a failed system call the way nginx logs one: `open() "/x" failed (2: No such file or directory)`. */
export function sysErrorText(call: string, target: string, err: NodeJS.ErrnoException): string {
  return `${call}() "${target}" failed (${errnoOf(err)}: ${strerror(err)})`;
}

const ERRNO: Record<string, [number, string]> = {
  ENOENT: [2, 'No such file or directory'],
  EACCES: [13, 'Permission denied'],
  EEXIST: [17, 'File exists'],
  ENOTDIR: [20, 'Not a directory'],
  EISDIR: [21, 'Is a directory'],
  EINVAL: [22, 'Invalid argument'],
  EADDRINUSE: [98, 'Address already in use'],
  EADDRNOTAVAIL: [99, 'Cannot assign requested address'],
  ECONNREFUSED: [111, 'Connection refused'],
  ECONNRESET: [104, 'Connection reset by peer'],
  ETIMEDOUT: [110, 'Connection timed out'],
  EHOSTUNREACH: [113, 'No route to host'],
  ESRCH: [3, 'No such process'],
  EPERM: [1, 'Operation not permitted'],
};

export function errnoOf(err: NodeJS.ErrnoException): number {
  return ERRNO[err.code ?? '']?.[0] ?? Math.abs(err.errno ?? 0);
}

export function strerror(err: NodeJS.ErrnoException): string {
  return ERRNO[err.code ?? '']?.[1] ?? err.message;
}
