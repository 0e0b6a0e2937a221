/** Canned response bodies and status lines, as nginx sends them (ngx_http_special_response.c). */

export const STATUS_TEXT: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content',
  206: 'Partial Content', 301: 'Moved Permanently', 302: 'Moved Temporarily', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required',
  403: 'Forbidden', 404: 'Not Found', 405: 'Not Allowed', 406: 'Not Acceptable', 408: 'Request Time-out',
  409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Request Entity Too Large',
  414: 'Request-URI Too Large', 415: 'Unsupported Media Type', 416: 'Requested Range Not Satisfiable',
  421: 'Misdirected Request', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
  502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out', 505: 'HTTP Version Not Supported',
  507: 'Insufficient Storage',
};

/** Titles of nginx's own error pages where they differ from the status line's text. */
const PAGE_TITLE: Record<number, string> = {
  302: '302 Found',
  401: '401 Authorization Required',
  494: '400 Request Header Or Cookie Too Large',
  495: '400 The SSL certificate error',
  496: '400 No required SSL certificate was sent',
  497: '400 The plain HTTP request was sent to HTTPS port',
};

/** statusLine returns `HTTP/1.1 404 Not Found`-style text for a status (unknown codes get no reason). */
export function statusLine(status: number, text?: string): string {
  const reason = text ?? STATUS_TEXT[status];
  return reason === undefined ? `HTTP/1.1 ${status} ` : `HTTP/1.1 ${status} ${reason}`;
}

/** The status actually sent for nginx's internal codes (494–497 are 400 on the wire, 499/444 never sent). */
export function wireStatus(status: number): number {
  return status >= 494 && status <= 497 ? 400 : status;
}

/** errorPageBody renders nginx's default HTML for an error or redirect status, or undefined for none. */
export function errorPageBody(status: number, serverTokens: boolean, version: string): string | undefined {
  const title = PAGE_TITLE[status] ?? (STATUS_TEXT[status] !== undefined ? `${status} ${STATUS_TEXT[status]}` : undefined);
  if (title === undefined || status < 300 || status === 304) return undefined;
  const h1 = status >= 494 && status <= 497 ? `<center><h1>400 Bad Request</h1></center>\r\n<center>${title.slice(4)}</center>` : `<center><h1>${title}</h1></center>`;
  const tail = serverTokens ? `portico/${version}` : 'portico';
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n${h1}\r\n<hr><center>${tail}</center>\r\n</body>\r\n</html>\r\n`;
}

/** Statuses after which nginx does not keep the connection alive. */
export const CLOSE_AFTER = new Set([400, 408, 413, 414, 494, 495, 496, 497, 500, 501]);
