/**
 * The plain operator page (/operator): a static shell whose script (web/plain/operator, bundled on first
 * request) signs in with the session cookie or an API token and answers chats through the SDK's
 * operator client. The React operator app replaces it later; this one exists so the whole flow can be
 * tried in a browser now.
 */
export function operatorPage(scriptPath: string): string {
  return `<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>omnitalk — оператор</title>
<link rel="icon" href="data:,">
<style>
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1f2328;background:#f6f8fa;height:100vh}
button,select,input,textarea{font:inherit}
button{cursor:pointer;border:1px solid #d0d7de;background:#fff;border-radius:6px;padding:5px 10px}
button.primary{background:#2f6fed;border-color:#2f6fed;color:#fff}
input,textarea,select{border:1px solid #d0d7de;border-radius:6px;padding:6px 8px;background:#fff}
[hidden]{display:none!important}
.login{max-width:380px;margin:60px auto;background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:24px;display:flex;flex-direction:column;gap:10px}
.login h1{margin:0;font-size:20px}
.login .alt{font-size:12px;color:#57606a}
.err{color:#d1242f;min-height:1em}
.app{display:grid;grid-template-rows:auto 1fr;height:100vh}
.top{display:flex;gap:12px;align-items:center;padding:8px 14px;background:#24292f;color:#fff}
.top .me{flex:1}
.top .conn{font-size:12px;opacity:.8}
.cols{display:grid;grid-template-columns:300px 1fr 280px;min-height:0}
.dialogs{overflow-y:auto;border-right:1px solid #d0d7de;background:#fff}
.dialogs .item{padding:10px 12px;border-bottom:1px solid #eaeef2;cursor:pointer}
.dialogs .item.active{background:#ddf4ff}
.dialogs .item .sub{font-size:12px;color:#57606a}
.dialogs .item .unread{float:right;background:#d1242f;color:#fff;border-radius:9px;padding:0 6px;font-size:12px}
.dialogs .item .typing{color:#1a7f37;font-size:12px}
.dialogs .none{padding:16px;color:#57606a}
.chat{display:flex;flex-direction:column;min-height:0}
.chat .head{padding:10px 14px;background:#fff;border-bottom:1px solid #d0d7de;display:flex;gap:8px;align-items:center}
.chat .head .t{flex:1}
.messages{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:6px}
.msg{max-width:70%;padding:7px 10px;border-radius:10px;background:#fff;border:1px solid #d0d7de;white-space:pre-wrap;overflow-wrap:anywhere;align-self:flex-start}
.msg.operator{align-self:flex-end;background:#ddf4ff;border-color:#b6e3ff}
.msg.system{align-self:center;background:none;border:0;color:#57606a;font-size:12px}
.msg .who{display:block;font-size:11px;color:#57606a}
.msg .meta{display:block;text-align:right;font-size:11px;color:#57606a}
.msg img{display:block;max-width:260px;max-height:200px;margin-top:4px;border-radius:6px}
.typing-row{padding:2px 14px;color:#57606a;font-style:italic;font-size:12px;min-height:18px}
.composer{display:flex;gap:6px;padding:8px;border-top:1px solid #d0d7de;background:#fff}
.composer textarea{flex:1;resize:none;height:54px}
.card{border-left:1px solid #d0d7de;background:#fff;padding:12px;overflow-y:auto;font-size:13px}
.card h3{margin:12px 0 4px;font-size:13px;color:#57606a}
.card ul{margin:0;padding-left:16px}
.empty{margin:auto;color:#57606a}
@media (max-width:900px){.cols{grid-template-columns:240px 1fr}.card{display:none}}
</style>
</head>
<body>
<div id="app"></div>
<script src="${scriptPath}"></script>
</body>
</html>
`;
}
