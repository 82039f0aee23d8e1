// Bolt's output is whatever a target printed: on a terminal, escape sequences and control characters
// in it could move the cursor, retitle the window or clear the screen. They are removed there.

// CSI (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC (ESC P|X|^|_ … ST), other two-byte escapes,
// and their 8-bit C1 forms.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u009b[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u009d[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[PX^_][^\u001b\u009c]*(?:\u001b\\|\u009c)?|\u001b[ -/]*[0-~]?/g
// Every other control character but tab and newline (a carriage return could overwrite a line).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g

/** The text with escape sequences and control characters (tab and newline kept) removed. */
export function stripControls (text: string): string {
  return text.replace(ESCAPES, '').replace(CONTROLS, '')
}

const CODES = { red: [31, 39], green: [32, 39], yellow: [33, 39], dim: [2, 22], bold: [1, 22], cyan: [36, 39] } as const
export type Colour = keyof typeof CODES

/** Colours when on, nothing when off. */
export function painter (on: boolean): (colour: Colour, text: string) => string {
  return (colour, text) => on ? `\u001b[${CODES[colour][0]}m${text}\u001b[${CODES[colour][1]}m` : text
}
