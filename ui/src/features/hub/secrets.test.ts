import { describe, expect, it } from "vitest";

import { MASK, hide, maskConnectionString, reveal, shownSecret } from "./secrets";

describe("maskConnectionString", () => {
  it("masks keys and signatures, keeps the rest", () => {
    expect(
      maskConnectionString(
        "HostName=localhost:8443;SharedAccessKeyName=iothubowner;SharedAccessKey=abc+/==",
      ),
    ).toBe(`HostName=localhost:8443;SharedAccessKeyName=iothubowner;SharedAccessKey=${MASK}`);
    expect(
      maskConnectionString(
        "HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=x",
      ),
    ).toBe(`HostName=h;DeviceId=d;SharedAccessSignature=${MASK}`);
    expect(maskConnectionString("no pairs")).toBe("no pairs");
  });
});

describe("reveal and hide", () => {
  it("shows the plain text only while revealed", () => {
    let revealed = {};
    expect(shownSecret(revealed, "serviceConnectionString", "masked")).toBe("masked");
    revealed = reveal(revealed, "serviceConnectionString", "plain");
    expect(shownSecret(revealed, "serviceConnectionString", "masked")).toBe("plain");
    expect(shownSecret(revealed, "deviceConnectionString", "dev-masked")).toBe("dev-masked");
    revealed = hide(revealed, "serviceConnectionString");
    expect(shownSecret(revealed, "serviceConnectionString", "masked")).toBe("masked");
  });
});
