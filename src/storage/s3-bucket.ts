import type { S3Client, StorageClass } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { ByteRange } from "./driver";

/**
 * The S3 driver's internals its multipart assembler and its file writer work with. They take this rather
 * than the driver class, so that s3.ts builds them without the three files importing each other.
 */
export interface S3Bucket {
  readonly client: S3Client;
  readonly bucket: string;
  readonly partSize: number;
  readonly maxPartSize: number;
  readonly storageClass: StorageClass | undefined;
  readonly logger: Logger | undefined;
  key(path: string): string;
  send<T = unknown>(command: object, path?: string): Promise<T>;
  copyObject(from: string, to: string, storageClass: StorageClass | undefined): Promise<void>;
  copySource(path: string): string;
  deletePrefix(pathPrefix: string): Promise<void>;
  readObject(path: string, range?: ByteRange): Promise<Readable>;
}
