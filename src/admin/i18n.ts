// The console's words in Japanese and English. The language is the user's choice (a
// cookie), else the browser's preference; every sentence a user can cause is here twice.
import type { ServiceCode } from "../delivery/service-codes.ts";
import type { DELIVERY_EVENTS, RECEPTION_EVENTS } from "../logs/filter.ts";
import type { AppError } from "../errors.ts";

export type Lang = "ja" | "en";
export type Text = { ja: string; en: string };

/** The cookie's choice, else the first of ja/en in Accept-Language (by q), else English. */
export function chooseLang(cookie: string | undefined, acceptLanguage: string | undefined): Lang {
  if (cookie === "ja" || cookie === "en") return cookie;
  const prefs = (acceptLanguage ?? "")
    .split(",")
    .map((part, i) => {
      const [tag = "", ...params] = part.trim().toLowerCase().split(";");
      const q = Number(params.find((p) => p.trim().startsWith("q="))?.split("=")[1] ?? 1);
      return { base: tag.split("-")[0], q: Number.isFinite(q) ? q : 0, i };
    })
    .filter((p) => p.q > 0 && (p.base === "ja" || p.base === "en"))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return prefs[0]?.base === "ja" ? "ja" : "en";
}

export const words = {
  title: { ja: "飛脚 管理画面", en: "Hikyaku console" },
  skip: { ja: "本文へ移動", en: "Skip to content" },
  signIn: { ja: "サインイン", en: "Sign in" },
  signOut: { ja: "サインアウト", en: "Sign out" },
  keyOrToken: { ja: "API キーまたは運用者トークン", en: "API key or operator token" },
  signInHelp: {
    ja: "アカウントの API キーでサインインするとそのアカウントの画面、HIKYAKU_ADMIN_TOKEN では運用者の画面が開きます。",
    en: "Sign in with an account's API key to see that account, or with HIKYAKU_ADMIN_TOKEN for the operator view.",
  },
  language: { ja: "言語", en: "Language" },
  logs: { ja: "配信ログ", en: "Delivery log" },
  reception: { ja: "受付ログ", en: "Reception log" },
  domains: { ja: "ドメイン", en: "Domains" },
  smtp: { ja: "SMTP", en: "SMTP" },
  apiKeys: { ja: "API キー", en: "API keys" },
  usage: { ja: "利用状況", en: "Usage" },
  accounts: { ja: "アカウント", en: "Accounts" },
  queue: { ja: "キュー", en: "Queue" },
  operator: { ja: "運用者", en: "Operator" },
  account: { ja: "アカウント", en: "Account" },
  timeZone: { ja: "タイムゾーン", en: "Time zone" },
  filter: { ja: "絞り込み", en: "Filter" },
  clear: { ja: "条件を消す", en: "Clear" },
  since: { ja: "開始日時", en: "From" },
  until: { ja: "終了日時", en: "Until" },
  event: { ja: "イベント", en: "Event" },
  anyEvent: { ja: "すべて", en: "Any" },
  recipient: { ja: "宛先", en: "Recipient" },
  recipientHint: { ja: "アドレス、または @ドメイン", en: "An address, or @domain" },
  envelopeSender: { ja: "エンベロープ送信者", en: "Envelope sender" },
  sourceIp: { ja: "送信元 IP", en: "Source IP" },
  tag: { ja: "タグ", en: "Tag" },
  messageId: { ja: "メッセージ ID", en: "Message id" },
  channel: { ja: "経路", en: "Channel" },
  time: { ja: "日時", en: "Time" },
  code: { ja: "コード", en: "Code" },
  response: { ja: "相手サーバーの応答", en: "Destination's reply" },
  tls: { ja: "TLS", en: "TLS" },
  mx: { ja: "MX", en: "MX" },
  attempt: { ja: "試行", en: "Attempt" },
  yes: { ja: "あり", en: "yes" },
  no: { ja: "なし", en: "no" },
  none: { ja: "—", en: "—" },
  tlsFellBack: { ja: "なし(TLS に失敗し平文で送信)", en: "no (TLS failed; sent in plain text)" },
  serviceCode: { ja: "飛脚のコード", en: "Hikyaku's code" },
  noEvents: { ja: "該当するイベントはありません。", en: "No events match." },
  nextPage: { ja: "次のページ", en: "Next page" },
  firstPage: { ja: "最初のページ", en: "First page" },
  failuresCsv: { ja: "失敗を CSV でダウンロード", en: "Download failures as CSV" },
  failuresCsvHelp: {
    ja: "今の絞り込み条件のうち、bounced と expired のイベント。リストの整理に。",
    en: "The bounced and expired events of the current filter, for cleaning a list.",
  },
  recipients: { ja: "宛先数", en: "Recipients" },
  result: { ja: "結果", en: "Result" },
  reason: { ja: "理由", en: "Reason" },
  accepted: { ja: "受付", en: "accepted" },
  refused: { ja: "拒否", en: "refused" },
  message: { ja: "メッセージ", en: "Message" },
  state: { ja: "状態", en: "State" },
  priority: { ja: "優先度", en: "Priority" },
  createdAt: { ja: "受付日時", en: "Accepted" },
  sendAt: { ja: "送信予定", en: "Send at" },
  expiresAt: { ja: "有効期限", en: "Expires" },
  timeline: { ja: "経過", en: "Timeline" },
  cancel: { ja: "配信を取り消す", en: "Cancel delivery" },
  reschedule: { ja: "送信予定を変更", en: "Reschedule" },
  newSendAt: { ja: "新しい送信予定", en: "New send time" },
  cancelled: { ja: "未配信の宛先を取り消しました。", en: "The recipients not yet final were cancelled." },
  rescheduled: { ja: "送信予定を変更しました。", en: "The message was rescheduled." },
  addDomain: { ja: "ドメインを追加", en: "Add a domain" },
  domain: { ja: "ドメイン", en: "Domain" },
  add: { ja: "追加", en: "Add" },
  records: { ja: "公開する DNS レコード", en: "DNS records to publish" },
  name: { ja: "名前", en: "Name" },
  value: { ja: "値", en: "Value" },
  type: { ja: "種類", en: "Type" },
  copy: { ja: "コピー", en: "Copy" },
  copied: { ja: "コピーしました", en: "Copied" },
  verify: { ja: "DNS を確認", en: "Check DNS" },
  rotate: { ja: "DKIM 鍵を更新", en: "Rotate DKIM keys" },
  required: { ja: "必須", en: "required" },
  recommended: { ja: "推奨", en: "recommended" },
  status: { ja: "状態", en: "Status" },
  noDomains: { ja: "ドメインはまだありません。", en: "No domains yet." },
  credentials: { ja: "SMTP 認証情報", en: "SMTP credentials" },
  username: { ja: "ユーザー名", en: "Username" },
  usernameHint: { ja: "空欄なら自動で作ります", en: "Leave empty for a generated one" },
  create: { ja: "作成", en: "Create" },
  revoke: { ja: "無効にする", en: "Revoke" },
  password: { ja: "パスワード", en: "Password" },
  shownOnce: { ja: "今だけ表示されます。控えてください。", en: "Shown only now: keep it somewhere safe." },
  noCredentials: { ja: "認証情報はありません。", en: "No credentials." },
  sourceIps: { ja: "リレーを許可する送信元 IP(最大 5 件)", en: "Source IPs allowed to relay (at most 5)" },
  save: { ja: "保存", en: "Save" },
  saved: { ja: "保存しました。", en: "Saved." },
  revoked: { ja: "無効にしました。", en: "Revoked." },
  smtpPorts: { ja: "接続先", en: "Where to connect" },
  keyName: { ja: "キーの名前", en: "Key name" },
  prefix: { ja: "接頭辞", en: "Prefix" },
  newKey: { ja: "新しい API キー", en: "New API key" },
  thisSession: { ja: "この画面で使用中", en: "in use by this session" },
  noKeys: { ja: "有効なキーはありません。", en: "No active keys." },
  month: { ja: "月", en: "Month" },
  show: { ja: "表示", en: "Show" },
  messagesAccepted: { ja: "受付メッセージ数", en: "Messages accepted" },
  quota: { ja: "月間上限", en: "Monthly quota" },
  unlimited: { ja: "無制限", en: "unlimited" },
  overage: { ja: "超過分", en: "Overage" },
  overageCharge: { ja: "超過料金", en: "Overage charge" },
  perDay: { ja: "日別のメッセージ数", en: "Messages per day" },
  resultsPerDay: { ja: "日別の結果", en: "Results per day" },
  delivered: { ja: "配信済み", en: "delivered" },
  bounced: { ja: "バウンス", en: "bounced" },
  expired: { ja: "期限切れ", en: "expired" },
  day: { ja: "日", en: "Day" },
  createAccount: { ja: "アカウントを作成", en: "Create an account" },
  accountName: { ja: "アカウント名", en: "Account name" },
  firstKey: { ja: "最初の API キー", en: "Its first API key" },
  settings: { ja: "設定", en: "Settings" },
  quotaHint: { ja: "空欄なら無制限", en: "Empty: unlimited" },
  waiting: { ja: "配信待ちの宛先", en: "Recipients waiting" },
  outbox: { ja: "配信待ちメッセージ", en: "Messages in the outbox" },
  due: { ja: "うち送信時刻を過ぎたもの", en: "of which due now" },
  oldestDue: { ja: "最も古い送信時刻", en: "Oldest due since" },
  webhooks: { ja: "Webhook", en: "Webhooks" },
  addWebhook: { ja: "Webhook を追加", en: "Add a webhook" },
  url: { ja: "送信先 URL", en: "URL" },
  events: { ja: "受け取るイベント", en: "Events" },
  enabled: { ja: "有効", en: "Enabled" },
  enable: { ja: "有効にする", en: "Enable" },
  disable: { ja: "停止する", en: "Disable" },
  disabledBy: { ja: "停止中", en: "Disabled" },
  failingSince: { ja: "失敗が続いている開始日時", en: "Failing since" },
  rotateSecret: { ja: "署名シークレットを更新", en: "Rotate the secret" },
  secret: { ja: "署名シークレット", en: "Signing secret" },
  previousSecretUntil: { ja: "旧シークレットも署名する期限", en: "The previous secret also signs until" },
  remove: { ja: "削除", en: "Delete" },
  deleted: { ja: "削除しました。", en: "Deleted." },
  noWebhooks: { ja: "Webhook はまだありません。", en: "No webhooks yet." },
  webhookHelp: {
    ja: "イベントはログと同じ形で POST され、Standard Webhooks の方式で署名されます(webhook-id、webhook-timestamp、webhook-signature)。",
    en: "Events are POSTed as the log shows them, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature).",
  },
  deliveries: { ja: "最近の送信", en: "Recent deliveries" },
  noDeliveries: { ja: "まだ送信していません。", en: "Nothing sent yet." },
  httpStatus: { ja: "HTTP ステータス", en: "HTTP status" },
  responseTime: { ja: "応答時間", en: "Response time" },
  error: { ja: "エラー", en: "Error" },
  replay: { ja: "期間を指定して再送", en: "Replay a time range" },
  replayHelp: {
    ja: "この期間にログに記録されたイベントのうち、この Webhook が受け取るものを、元の webhook-id のまま送り直します。",
    en: "Sends again every logged event of the range that this webhook receives, with its original webhook-id.",
  },
  replayed: { ja: "件を再送の列に入れました。", en: "events queued again." },
  details: { ja: "詳細", en: "Details" },
  suppressions: { ja: "配信停止リスト", en: "Suppressions" },
  suppressionHelp: {
    ja: "ここにある宛先には送信を試みず、ログに suppressed と記録します。ハードバウンスした宛先は自動で追加されます。",
    en: "Hikyaku makes no attempt to these addresses and logs them as suppressed. Hard bounces are added automatically.",
  },
  address: { ja: "アドレス", en: "Address" },
  addSuppression: { ja: "宛先を追加", en: "Add an address" },
  detail: { ja: "メモ", en: "Note" },
  cause: { ja: "原因のイベント", en: "Causing event" },
  addedAt: { ja: "追加日時", en: "Added" },
  noSuppressions: { ja: "配信停止リストは空です。", en: "The suppression list is empty." },
  added: { ja: "追加しました。", en: "Added." },
  alreadySuppressed: { ja: "このアドレスはすでにリストにあります(変更していません)。", en: "That address is already on the list (unchanged)." },
  removedSuppression: { ja: "リストから外しました。次の送信から配信を試みます。", en: "Removed: the next message to it will be attempted." },
  destinations: { ja: "宛先ポリシー", en: "Destination policies" },
  destinationsHelp: {
    ja: "宛先ドメイン(または MX のグループ)ごとの送信の調整です。変更は /v1/admin/destination-policies から。",
    en: "How mail to each destination domain (or MX group) is shaped. Change them through /v1/admin/destination-policies.",
  },
  builtIn: { ja: "適用中の設定", en: "Policies in force" },
  policySource: { ja: "出どころ", en: "Source" },
  sourceBuiltIn: { ja: "組み込み", en: "built-in" },
  sourceOverride: { ja: "運用者の設定", en: "operator" },
  sourceBoth: { ja: "組み込み＋運用者の変更", en: "built-in, changed by the operator" },
  mxSuffixes: { ja: "MX の接尾辞", en: "MX suffixes" },
  maxConnections: { ja: "同時接続数", en: "Connections" },
  perMinute: { ja: "毎分のメッセージ数", en: "Messages per minute" },
  rcptPerTx: { ja: "1 回の宛先数", en: "Recipients per transaction" },
  perConnection: { ja: "1 接続のメッセージ数", en: "Messages per connection" },
  idleClose: { ja: "アイドル切断(秒)", en: "Idle close (s)" },
  basis: { ja: "根拠", en: "Basis" },
  liveState: { ja: "現在の状態", en: "Live state" },
  budget: { ja: "予算のキー", en: "Budget" },
  effectiveRate: { ja: "現在の毎分上限", en: "Limit now (per minute)" },
  sentLastMinute: { ja: "直近 1 分の送信", en: "Sent in the last minute" },
  rateFactor: { ja: "減速係数", en: "Rate factor" },
  backoffUntil: { ja: "減速の期限", en: "Backed off until" },
  suspendedUntil: { ja: "停止の期限", en: "Suspended until" },
  connectionsInUse: { ja: "使用中の接続", en: "Connections in use" },
  noLiveState: { ja: "まだ状態のある宛先はありません。", en: "No destination has state yet." },
  manual: { ja: "マニュアル", en: "Manual" },
  contents: { ja: "目次", en: "Contents" },
  meaning: { ja: "意味", en: "Meaning" },
  codeClass: { ja: "区分", en: "Class" },
  classTemporary: { ja: "一時的(再試行します)", en: "temporary (retried)" },
  classFinal: { ja: "最終", en: "final" },
} satisfies Record<string, Text>;

export type Word = keyof typeof words;

export const t = (lang: Lang, w: Word): string => words[w][lang];

/** What each of Hikyaku's own codes means, shown beside the code in the log. */
export const serviceCodeMeaning: Record<ServiceCode, Text> = {
  dns_failure: { ja: "宛先の DNS 検索が一時的に失敗しました(再試行します)", en: "DNS look-up of the destination failed temporarily (retried)" },
  no_such_domain: { ja: "宛先のドメインが存在しません(NXDOMAIN)", en: "the recipient's domain does not exist (NXDOMAIN)" },
  null_mx: { ja: "宛先のドメインはメールを受け取りません(null MX)", en: "the recipient's domain accepts no mail (null MX)" },
  no_route: { ja: "宛先のドメインに MX もアドレスもありません", en: "the recipient's domain has no MX and no address" },
  internal_destination: { ja: "宛先が内部アドレスにしか解決されないため拒否しました", en: "the destination resolves only to internal addresses; refused" },
  connection_failed: { ja: "宛先サーバーに接続できませんでした(再試行します)", en: "could not connect to any destination server (retried)" },
  timeout: { ja: "宛先サーバーが応答しなくなりました(再試行します)", en: "the destination server stopped answering (retried)" },
  connection_lost: { ja: "宛先との接続が切れました(再試行します)", en: "the connection to the destination was lost (retried)" },
  tls_failed: { ja: "宛先との TLS ハンドシェイクに失敗しました(再試行します)", en: "the TLS handshake with the destination failed (retried)" },
  tls_required: {
    ja: "このドメインには TLS が必須ですが使えませんでした(再試行します)",
    en: "TLS is required for this domain and could not be used (retried)",
  },
  mta_sts_failed: {
    ja: "宛先がドメインの MTA-STS ポリシーを満たしません(MX がポリシーにない、または証明書が無効)。送信せず再試行します",
    en: "the destination fails the domain's MTA-STS policy (MX not in the policy, or no valid certificate); not sent, retried",
  },
  protocol_error: { ja: "宛先が SMTP の手順に沿わない応答をしました(再試行します)", en: "the destination answered outside the SMTP protocol (retried)" },
  internal_error: { ja: "飛脚の内部エラーです(再試行します)", en: "Hikyaku failed internally (retried)" },
  shaped: {
    ja: "宛先の送信レート制限(毎分の通数)のため待機中です(試行回数に数えません)",
    en: "held back by the destination's rate limit (not counted as an attempt)",
  },
  destination_busy: {
    ja: "宛先への接続がすべて使用中のため待機中です(試行回数に数えません)",
    en: "every connection the destination allows is in use (not counted as an attempt)",
  },
  destination_backoff: {
    ja: "宛先から減速を求められたため、しばらく送信レートを下げています(試行回数に数えません)",
    en: "the destination asked to slow down; its rate is reduced for a while (not counted as an attempt)",
  },
  destination_suspended: {
    ja: "宛先がすべての接続を拒否したため、しばらく送信を止めています(試行回数に数えません)",
    en: "the destination refused every connection; paused for a while (not counted as an attempt)",
  },
  expired: { ja: "配信できないまま有効期限が過ぎました", en: "the message's lifetime passed before it could be delivered" },
  cancelled: { ja: "配信前に送信者が取り消しました", en: "cancelled by the sender before delivery" },
  suppressed: {
    ja: "宛先が配信停止リストにあるため、配信を試みませんでした",
    en: "the recipient is on the account's suppression list; no attempt was made",
  },
};

/** What each log event means, for the manual; a new event fails to compile until it has its sentence. */
export const eventMeaning: Record<(typeof DELIVERY_EVENTS)[number] | `reception.${(typeof RECEPTION_EVENTS)[number]}`, Text> = {
  delivered: { ja: "相手のサーバーがメッセージを受け取りました。配信は完了です。", en: "The destination's server accepted the message. Done." },
  deferred: {
    ja: "一時的な理由で届けられませんでした。有効期限(指定がなければ 30 分)まで、間隔をおいて自動で再試行します。",
    en: "A temporary failure. Hikyaku tries again at intervals until the message's lifetime (30 minutes unless set) runs out.",
  },
  bounced: {
    ja: "相手のサーバーが受け取りを断りました(恒久的な失敗)。再試行はしません。アドレスを確かめてください。",
    en: "The destination refused the message for good. No more attempts: check the address.",
  },
  expired: {
    ja: "有効期限までに届けられませんでした。再試行はここで終わりです。",
    en: "The lifetime ran out before the message could be delivered. No more attempts.",
  },
  cancelled: { ja: "配信の前に取り消されました(この画面または API から)。", en: "Cancelled before delivery (in this console or through the API)." },
  suppressed: { ja: "宛先が配信停止リストにあるため、送信しませんでした。", en: "The recipient is on the suppression list, so nothing was sent." },
  "reception.accepted": { ja: "飛脚がメッセージを受け取り、配信の順番待ちに入れました。", en: "Hikyaku took the message and queued it for delivery." },
  "reception.refused": {
    ja: "飛脚がメッセージを受け取りませんでした(登録されていない送信元 IP、認証の失敗、正しくないヘッダーなど)。「理由」を見てください。何も送信されていません。",
    en: "Hikyaku refused the message (a source IP not registered, failed authentication, a bad header…); the Reason column says why. Nothing was sent.",
  },
};

/** The manual's sentences (src/admin/pages/manual.tsx); values from the running config are shown beside them. */
export const manualWords = {
  intro: {
    ja: "この画面の使い方と、ログの読み方です。API の詳しい仕様はこちら:",
    en: "How to use this console and how to read its logs. The API's full reference:",
  },
  arrivedTitle: { ja: "届いたかどうかを確かめる", en: "Did the message arrive?" },
  arrived: {
    ja: "配信ログには、宛先ごとに、配信の試行とその結果が 1 行ずつ記録されます。",
    en: "The delivery log has one row per attempt and result, for each recipient.",
  },
  step1: {
    ja: "配信ログを開き、「宛先」にアドレス(ドメイン全体なら @example.jp)を入れて「絞り込み」を押します。",
    en: "Open the delivery log, type the address in Recipient (or @example.jp for a whole domain) and press Filter.",
  },
  step2: {
    ja: "イベントが「配信済み」(delivered)なら、相手のサーバーが受け取っています。その先(迷惑メールフォルダーなど)は相手側の扱いです。",
    en: "If the event is delivered, the destination's server took the message. What happens after that (a spam folder, say) is up to the destination.",
  },
  step3: {
    ja: "それ以外なら、「コード」と「相手サーバーの応答」が理由です。飛脚自身が判断したときは「飛脚のコード」が出ます(下の表)。",
    en: "Otherwise the Code and the Destination's reply say why. When Hikyaku itself decided, the row shows Hikyaku's code (see the table below).",
  },
  step4: {
    ja: "行が 1 つもなければ受付ログを開きます。飛脚が受け取ったか(受付)、断ったか(拒否)と、その理由がわかります。",
    en: "If there is no row at all, open the reception log: it shows whether Hikyaku took the message (accepted) or refused it, and why.",
  },
  step5: {
    ja: "メッセージ ID を押すと、宛先ごとの経過が見られます。まだ終わっていない宛先は、そこで取り消しや送信予定の変更ができます。",
    en: "Click a message id to see its timeline, recipient by recipient. Recipients not yet final can be cancelled or rescheduled there.",
  },
  filters: {
    ja: "ほかの絞り込み: 期間(アカウントのタイムゾーンの日時)、イベント、エンベロープ送信者、送信元 IP(SMTP で送ってきたサーバー)、タグ、メッセージ ID。",
    en: "Other filters: the time range (in the account's time zone), the event, the envelope sender, the source IP (the server that sent over SMTP), a tag and the message id.",
  },
  eventsTitle: { ja: "イベントの意味", en: "What each event means" },
  codesTitle: { ja: "飛脚のコード", en: "Hikyaku's codes" },
  codesIntro: {
    ja: "相手のサーバーが何も答えなかったとき(つながらない、DNS が引けない、期限切れなど)は、飛脚が自分のコードを記録します。4xx は一時的で再試行します。5xx は最終的な結果です。",
    en: "When no destination server said anything (no connection, DNS trouble, the lifetime ran out…), Hikyaku logs a code of its own. 4xx is temporary and retried; 5xx is final.",
  },
  smtpTitle: { ja: "SMTP で送る", en: "Sending over SMTP" },
  server: { ja: "サーバー", en: "Server" },
  relayPort: { ja: "リレー用ポート", en: "Relay port" },
  relay: {
    ja: "パスワードは不要です。送信するサーバーの IP アドレスを SMTP の画面で登録します(最大 5 件)。登録した IP からのメールだけを受け付けます。",
    en: "No password: register your sending server's IP address on the SMTP page (at most 5). Only mail from those addresses is accepted.",
  },
  submissionPort: { ja: "サブミッション用ポート", en: "Submission port" },
  submission: {
    ja: "STARTTLS のあと、SMTP の画面で作ったユーザー名とパスワードで認証します(AUTH PLAIN または LOGIN)。",
    en: "STARTTLS, then authenticate with a username and password made on the SMTP page (AUTH PLAIN or LOGIN).",
  },
  smtpsPort: { ja: "SMTPS ポート", en: "SMTPS port" },
  smtps: { ja: "最初から TLS で接続し、同じユーザー名とパスワードで認証します。", en: "TLS from the start, then the same username and password." },
  tlsOnly: {
    ja: "パスワードは TLS の上でしか受け付けません。条件に合わない接続は 554 5.7.1(relay denied)で断られ、受付ログに記録されます。",
    en: "A password is accepted only over TLS. Any other sender is refused with 554 5.7.1 (relay denied), and the refusal is in the reception log.",
  },
  apiTitle: { ja: "API で送る", en: "Sending through the API" },
  api: {
    ja: "アプリからは POST /v1/messages に JSON を送ります。API キー(API キーの画面で作成)は Authorization: Bearer ヘッダーで渡します。項目と例は API リファレンスにあります。",
    en: "Apps POST JSON to /v1/messages, with an API key (made on the API keys page) in an Authorization: Bearer header. Every field, with examples, is in the API reference.",
  },
  docsLink: { ja: "API リファレンス(/docs)", en: "API reference (/docs)" },
  domainsTitle: { ja: "ドメインの設定(DNS)", en: "Domains (DNS)" },
  domains: {
    ja: "差出人(From)に使うドメインをドメインの画面で追加すると、公開する DNS レコードが出ます。コピーボタンで値を写して DNS に登録し、「DNS を確認」を押します。",
    en: "Add the domain you send From on the Domains page: it lists the DNS records to publish. Copy each value into your DNS, then press Check DNS.",
  },
  dkim: {
    ja: "〈セレクター〉._domainkey.〈ドメイン〉の TXT レコード。これが見つかると、そのドメインからのメールに署名します(必須)。",
    en: "a TXT record at <selector>._domainkey.<domain>. Once it is found, mail From the domain is signed (required).",
  },
  spf: {
    ja: "ドメインの SPF(TXT)レコードに次を加えます。SPF レコードはドメインに 1 つだけにします:",
    en: "add this to the domain's SPF (TXT) record; keep a single SPF record per domain:",
  },
  dmarc: {
    ja: "_dmarc.〈ドメイン〉の TXT レコード。まずは表示どおり p=none で始めます。",
    en: "a TXT record at _dmarc.<domain>; start with the p=none shown.",
  },
  returnPath: {
    ja: "エンベロープ送信者(return_path)を同じドメインのアドレスにします。バウンスはそこへ戻り、受信側はそのドメインで SPF を確かめます。",
    en: "use an envelope sender (return_path) at the same domain. Bounces come back there, and receivers check SPF for that domain.",
  },
  csvTitle: { ja: "失敗の CSV でリストを整理する", en: "Cleaning a list with the failures CSV" },
  csv1: { ja: "配信ログで、送った期間(とタグ)を絞り込みます。", en: "On the delivery log, filter by the time of the mailing (and its tag)." },
  csv2: {
    ja: "「失敗を CSV でダウンロード」を押します。今の条件の bounced と expired のイベントが 1 行ずつ入っています。",
    en: "Press Download failures as CSV: one row per bounced or expired event of the filter.",
  },
  csv3: {
    ja: "bounced の宛先はリストから外すか、アドレスを確かめます。送り続けると、受信側からの評価が下がります。",
    en: "Remove the bounced addresses from your list, or check them: sending to them again hurts your standing with receivers.",
  },
  csv4: {
    ja: "expired の宛先は一時的な問題だったかもしれません。コードを見て、あとで送り直すかを決めます。",
    en: "An expired recipient may have had a passing problem: read its code, then decide whether to send again later.",
  },
  otherTitle: { ja: "配信停止リストと Webhook", en: "Suppressions and webhooks" },
  suppressions: {
    ja: "リストにある宛先には送信せず、suppressed と記録します。手で追加・削除でき、運用者が有効にしていればハードバウンスした宛先が自動で入ります。",
    en: "Addresses on the list are not sent to and are logged as suppressed. Add or remove them by hand; if the operator turned it on, hard bounces are added automatically.",
  },
  webhooks: {
    ja: "配信ログのイベントを、起きたときにあなたのシステムの URL へ署名付きで POST します。",
    en: "The log's events are POSTed, signed, to your system's URL as they happen.",
  },
} satisfies Record<string, Text>;

export type ManualWord = keyof typeof manualWords;

export const mt = (lang: Lang, w: ManualWord): string => manualWords[w][lang];

/** Events and states, in the user's language (the API's own word is shown beside it). */
export const stateWords: Record<string, Text> = {
  delivered: words.delivered,
  bounced: words.bounced,
  expired: words.expired,
  deferred: { ja: "再試行待ち", en: "deferred" },
  cancelled: { ja: "取り消し", en: "cancelled" },
  suppressed: { ja: "配信停止", en: "suppressed" },
  scheduled: { ja: "予約済み", en: "scheduled" },
  queued: { ja: "配信待ち", en: "queued" },
  sending: { ja: "送信中", en: "sending" },
  completed: { ja: "完了", en: "completed" },
  accepted: words.accepted,
  refused: words.refused,
  found: { ja: "確認済み", en: "found" },
  missing: { ja: "見つかりません", en: "missing" },
  mismatched: { ja: "値が違います", en: "mismatched" },
  error: { ja: "確認できませんでした", en: "look-up failed" },
  pending: { ja: "未確認", en: "pending" },
  active: { ja: "有効", en: "active" },
  retrying: { ja: "再試行中", en: "retrying" },
  failed: { ja: "失敗", en: "failed" },
  hard_bounce: { ja: "ハードバウンス", en: "hard bounce" },
  complaint: { ja: "苦情", en: "complaint" },
  manual: { ja: "手動", en: "manual" },
  "reception.refused": { ja: "受付拒否", en: "reception refused" },
  retired: { ja: "廃止", en: "retired" },
};

export const stateWord = (lang: Lang, s: string): string => stateWords[s]?.[lang] ?? s;

/** The sentences of errors a console user can cause, by error code and field. */
const errorTexts: Record<string, Text> = {
  "signin:wrong": {
    ja: "サインインできませんでした。キーを確認してください。",
    en: "Sign-in failed. Check the key and try again.",
  },
  "signin:locked": {
    ja: "失敗が多すぎるため、この IP からのサインインを一時的に止めています。10 分ほど待ってください。",
    en: "Too many failed sign-ins from this address; wait about ten minutes and try again.",
  },
  csrf: {
    ja: "フォームの有効期限が切れました。ページを読み込み直して、もう一度操作してください。",
    en: "This form has expired. Reload the page and try again.",
  },
  not_found: { ja: "見つかりません。このアカウントにはありません。", en: "Not found in this account." },
  "validation_error:since": { ja: "開始日時が正しくありません。", en: "The start time is not a valid time." },
  "validation_error:until": { ja: "終了日時が正しくありません。", en: "The end time is not a valid time." },
  "validation_error:event": { ja: "イベントの指定が正しくありません。", en: "That event is not one of this log's events." },
  "validation_error:recipient": {
    ja: "宛先は a@example.jp のようなアドレスか、@example.jp のようなドメインで指定してください(受付ログでは指定できません)。",
    en: "Give the recipient as an address like a@example.jp, or @example.jp for a whole domain (not for the reception log).",
  },
  "validation_error:envelope_sender": {
    ja: "エンベロープ送信者は a@example.jp のようなアドレスで指定してください。",
    en: "Give the envelope sender as an address like a@example.jp.",
  },
  "validation_error:source_ip": { ja: "送信元 IP は IPv4 か IPv6 のアドレスで指定してください。", en: "Give the source IP as an IPv4 or IPv6 address." },
  "validation_error:message_id": { ja: "メッセージ ID は API が返した ID で指定してください。", en: "Give the message id as the API returned it." },
  "validation_error:tag": { ja: "タグは配信ログでのみ指定できます。", en: "Tags can only filter the delivery log." },
  "validation_error:cursor": {
    ja: "ページの位置が正しくありません。最初のページからやり直してください。",
    en: "That page position is not valid; start again from the first page.",
  },
  "validation_error:send_at": {
    ja: "送信予定は今から 30 日以内の日時で指定してください。",
    en: "Give a send time from now up to 30 days ahead.",
  },
  "conflict:send_at": {
    ja: "このメッセージはもう予約状態ではないため、送信予定を変更できません。",
    en: "This message is no longer scheduled, so its send time cannot move.",
  },
  "conflict:id": { ja: "取り消せる宛先が残っていません。すべて配信が終わっています。", en: "Nothing is left to cancel: every recipient is already final." },
  "validation_error:domain": {
    ja: "送信に使えるドメイン名を入力してください(例: shop.example.jp)。",
    en: "Enter a domain name you can send from, such as shop.example.",
  },
  "conflict:domain": {
    ja: "このドメインは登録済みです(このアカウントか、別のアカウントで)。",
    en: "This domain is already registered (in this account or another one).",
  },
  "validation_error:username": {
    ja: "ユーザー名は英数字と . _ @ + - の 3〜64 文字で、英数字で始めてください。",
    en: "A username is 3-64 letters, digits and . _ @ + -, starting with a letter or digit.",
  },
  "conflict:username": {
    ja: "このユーザー名は使われています。別の名前にするか、空欄にしてください。",
    en: "That username is taken; choose another or leave it empty.",
  },
  "validation_error:ips": { ja: "送信元 IP は 5 件までです。", en: "At most 5 source IPs." },
  "validation_error:ips[]": { ja: "IPv4 か IPv6 のアドレスではないものがあります。", en: "One of the entries is not an IPv4 or IPv6 address." },
  "conflict:ips": { ja: "その IP は別のアカウントが登録しています。", en: "That IP is registered by another account." },
  "validation_error:name": { ja: "名前は 1〜200 文字で入力してください。", en: "Enter a name of 1-200 characters." },
  "validation_error:month": { ja: "月は 2026-11 のように指定してください。", en: "Give the month like 2026-11." },
  "validation_error:monthly_quota": {
    ja: "月間上限は 0 以上の整数か、空欄(無制限)にしてください。",
    en: "The quota is a whole number from 0, or empty for unlimited.",
  },
  "validation_error:time_zone": {
    ja: "タイムゾーンは Asia/Tokyo のような IANA の名前で指定してください。",
    en: "Give the time zone as an IANA name such as Asia/Tokyo.",
  },
  "validation_error:url": {
    ja: "URL は https://app.example/hooks のように、資格情報を含まない公開アドレスで指定してください。",
    en: "Give the URL like https://app.example/hooks: a public address, with no credentials in it.",
  },
  "conflict:url": { ja: "Webhook は 10 件までです。どれかを削除してから追加してください。", en: "At most 10 webhooks; delete one first." },
  "validation_error:events": { ja: "受け取るイベントを 1 つ以上選んでください。", en: "Choose at least one event." },
  "replay:disabled": {
    ja: "この Webhook は停止中です。有効にしてから再送してください。",
    en: "This webhook is disabled; enable it, then replay.",
  },
  "replay:order": { ja: "終了日時は開始日時より後にしてください。", en: "The end time must be later than the start time." },
  "replay:too_many": {
    ja: "この期間のイベントが多すぎます(10 万件まで)。期間を短くしてください。",
    en: "The range holds too many events (at most 100,000); replay it in shorter ranges.",
  },
  "invalid_address:address": {
    ja: "アドレスは a@example.jp のように指定してください。",
    en: "Give the address like a@example.jp.",
  },
  "conflict:address": { ja: "追加の途中で削除されました。もう一度追加してください。", en: "It was removed meanwhile; add it again." },
  "validation_error:detail": { ja: "メモは 500 文字までです。", en: "A note is at most 500 characters." },
  "not_found:address": { ja: "そのアドレスはリストにありません。", en: "That address is not on the list." },
  too_large: { ja: "送信された内容が大きすぎます。", en: "What was sent is too large." },
  unavailable: { ja: "データベースに接続できません。しばらくして再度お試しください。", en: "The database cannot be reached right now; try again shortly." },
  internal: { ja: "内部エラーが起きました。時間をおいて再度お試しください。", en: "Something went wrong inside Hikyaku; try again later." },
};

export type ErrorKey = keyof typeof errorTexts;

/** A console-only error (sign-in, forms) by its key. */
export const errorText = (lang: Lang, key: string): string => (errorTexts[key] ?? errorTexts.internal)?.[lang] ?? "";

/** An API error in the user's language: the sentence for its code and field, else the API's own words. */
export function appErrorText(lang: Lang, err: AppError): string {
  const field = err.field?.replace(/\[\d+\]$/, "[]");
  const own = errorTexts[`${err.code}:${field}`] ?? errorTexts[err.code];
  if (own) return own[lang];
  return lang === "ja" ? `入力を確認してください: ${err.message}` : err.message;
}
