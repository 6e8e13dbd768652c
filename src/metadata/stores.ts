// Every store of the metadata database, made from one open Database. The composition root (src/deps.ts,
// the CLI) calls this; services receive the store interfaces, never the Database.
import type { Database } from "./database";
import { PrismaAccountStore, type AccountStore } from "./account-store";
import { PrismaSigningKeyStore, type SigningKeyStore } from "./signing-key-store";
import { PrismaWebSessionStore, type WebSessionStore } from "./session-store";

export interface Stores {
  accounts: AccountStore;
  signingKeys: SigningKeyStore;
  webSessions: WebSessionStore;
}

export function createStores(database: Database): Stores {
  return {
    accounts: new PrismaAccountStore(database.prisma),
    signingKeys: new PrismaSigningKeyStore(database.prisma),
    webSessions: new PrismaWebSessionStore(database.prisma),
  };
}
