// qrcode-terminal ships no types; this is the one function Jaga uses.
declare module "qrcode-terminal" {
  const qrcode: { generate(text: string, options: { small?: boolean }, callback: (art: string) => void): void };
  export default qrcode;
}
