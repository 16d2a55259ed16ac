/** The widget's styles, scoped by its shadow root: the host page's CSS neither leaks in nor out. */
export const css = `
:host{all:initial}
.root{--a:#2f6fed}
*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
.root{position:fixed;right:20px;bottom:20px;z-index:2147483000;font-size:14px;line-height:1.4;color:#1f2328}
.launcher{width:58px;height:58px;border-radius:50%;border:0;cursor:pointer;background:var(--a);color:#fff;
 box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;position:relative}
.launcher svg{width:28px;height:28px;fill:currentColor}
.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;
 background:#d1242f;color:#fff;font-size:12px;line-height:20px;text-align:center}
.badge[hidden]{display:none}
.panel{position:absolute;right:0;bottom:72px;width:360px;max-width:calc(100vw - 24px);height:540px;
 max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);
 display:flex;flex-direction:column;overflow:hidden}
.panel[hidden]{display:none}
.head{background:var(--a);color:#fff;padding:12px 14px;display:flex;gap:8px;align-items:flex-start}
.head .t{flex:1;min-width:0}
.head b{display:block;font-size:15px}
.head small{display:block;opacity:.9;font-size:12px}
.icon{background:transparent;border:0;color:inherit;cursor:pointer;font-size:18px;line-height:1;padding:4px;
 border-radius:6px}
.icon:hover{background:rgba(255,255,255,.18)}
.banner{background:#fff8c5;color:#4d2d00;padding:6px 12px;font-size:12px}
.banner[hidden]{display:none}
.list{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px;background:#f6f8fa}
.older{align-self:center;border:0;background:none;color:var(--a);cursor:pointer;font-size:12px}
.older[hidden]{display:none}
.empty{color:#57606a;text-align:center;margin:auto 0}
.msg{max-width:80%;padding:8px 10px;border-radius:12px;background:#fff;border:1px solid #d0d7de;
 white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere;align-self:flex-start}
.msg.mine{align-self:flex-end;background:var(--a);color:#fff;border-color:transparent}
.msg.system{align-self:center;background:none;border:0;color:#57606a;font-size:12px}
.msg .who{display:block;font-size:11px;color:#57606a;margin-bottom:2px}
.msg .meta{display:block;text-align:right;font-size:11px;opacity:.8;margin-top:2px}
.msg a{color:inherit}
.msg img{display:block;max-width:100%;max-height:200px;border-radius:8px;margin-top:4px}
.mark{margin-left:4px;letter-spacing:-3px}
.typing{padding:4px 14px;color:#57606a;font-size:12px;font-style:italic;background:#f6f8fa}
.typing[hidden]{display:none}
.note{padding:6px 12px;font-size:12px;color:#d1242f;background:#fff}
.note.ok{color:#1a7f37}
.note[hidden]{display:none}
.composer{display:flex;gap:6px;padding:8px;border-top:1px solid #d0d7de;align-items:flex-end;background:#fff}
.composer textarea{flex:1;resize:none;border:1px solid #d0d7de;border-radius:10px;padding:8px;font-size:14px;
 max-height:120px;min-height:38px;outline-color:var(--a)}
.composer .icon{color:#57606a;font-size:20px;display:flex}
.composer .icon:hover{background:#eaeef2}
.send{border:0;border-radius:10px;background:var(--a);color:#fff;padding:9px 12px;cursor:pointer;font-size:14px}
.form{position:absolute;inset:0;background:rgba(255,255,255,.98);padding:18px;display:flex;flex-direction:column;gap:8px;
 overflow:auto}
.form[hidden]{display:none}
.form h3{margin:0;font-size:16px}
.form p{margin:0 0 4px;color:#57606a;font-size:12px}
.form label{display:flex;flex-direction:column;gap:3px;font-size:12px;color:#57606a}
.form input{border:1px solid #d0d7de;border-radius:8px;padding:8px;font-size:14px;color:#1f2328}
.form input[aria-invalid=true]{border-color:#d1242f}
.form .err{color:#d1242f;font-size:12px;min-height:14px}
.form .row{display:flex;gap:8px;margin-top:6px}
.form .row button{flex:1}
.ghost{border:1px solid #d0d7de;border-radius:10px;background:#fff;color:#1f2328;padding:9px 12px;cursor:pointer}
.panelwrap{position:relative;flex:1;display:flex;flex-direction:column;min-height:0}
@media (max-width:480px){.root{right:12px;bottom:12px}.panel{width:calc(100vw - 24px);height:calc(100vh - 100px)}}
`;
