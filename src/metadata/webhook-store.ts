// The webhook endpoints project admins configure (table project_webhook) and their last delivery attempts
// (table webhook_delivery, bounded per endpoint).
import type { PrismaClient } from "../generated/prisma/client";

export interface WebhookRow {
  id: number;
  project: string;
  url: string;
  secret: string | null;
  actions: string[];
  enabled: boolean;
  updatedBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookFields {
  url: string;
  actions: string[];
  enabled: boolean;
  /** undefined keeps the stored secret; null removes it. */
  secret?: string | null;
}

export interface DeliveryRow {
  at: Date;
  event: string;
  success: boolean;
  httpStatus: number | null;
  durationMs: number;
  error: string | null;
}

export interface WebhookStore {
  ofProject(project: string): Promise<WebhookRow[]>;
  /** The enabled endpoints of the project (what a delivery needs). */
  enabledOf(project: string): Promise<WebhookRow[]>;
  get(project: string, id: number): Promise<WebhookRow | null>;
  /** Null when the project does not exist. */
  create(project: string, fields: WebhookFields & { secret: string | null }, actor: string): Promise<WebhookRow | null>;
  /** Null when the project has no endpoint `id`. */
  update(project: string, id: number, fields: WebhookFields, actor: string): Promise<WebhookRow | null>;
  /** The deleted endpoint, or null when the project has no endpoint `id`. */
  delete(project: string, id: number): Promise<WebhookRow | null>;
  /** Records one attempt and deletes the endpoint's attempts beyond the newest `keep`. */
  recordDelivery(webhookId: number, delivery: DeliveryRow, keep: number): Promise<void>;
  /** Newest first. */
  deliveries(webhookId: number, limit: number): Promise<DeliveryRow[]>;
}

const withProject = { project: { select: { name: true } } } as const;

export class PrismaWebhookStore implements WebhookStore {
  constructor(private readonly prisma: PrismaClient) {}

  async ofProject(project: string): Promise<WebhookRow[]> {
    return (await this.prisma.projectWebhook.findMany({ where: { project: { name: project } }, include: withProject, orderBy: { id: "asc" } })).map(flat);
  }

  async enabledOf(project: string): Promise<WebhookRow[]> {
    const rows = await this.prisma.projectWebhook.findMany({ where: { enabled: true, project: { name: project } }, include: withProject, orderBy: { id: "asc" } });
    return rows.map(flat);
  }

  async get(project: string, id: number): Promise<WebhookRow | null> {
    const row = await this.prisma.projectWebhook.findFirst({ where: { id, project: { name: project } }, include: withProject });
    return row && flat(row);
  }

  async create(project: string, fields: WebhookFields & { secret: string | null }, actor: string): Promise<WebhookRow | null> {
    const owner = await this.prisma.project.findUnique({ where: { name: project }, select: { id: true } });
    if (!owner) return null;
    return flat(await this.prisma.projectWebhook.create({ data: { ...fields, projectId: owner.id, updatedBy: actor }, include: withProject }));
  }

  async update(project: string, id: number, fields: WebhookFields, actor: string): Promise<WebhookRow | null> {
    const { count } = await this.prisma.projectWebhook.updateMany({
      where: { id, project: { name: project } },
      data: { ...fields, updatedBy: actor, updatedAt: new Date() },
    });
    return count ? this.get(project, id) : null;
  }

  async delete(project: string, id: number): Promise<WebhookRow | null> {
    const existing = await this.get(project, id);
    if (!existing) return null;
    const { count } = await this.prisma.projectWebhook.deleteMany({ where: { id } });
    return count ? existing : null;
  }

  async recordDelivery(webhookId: number, delivery: DeliveryRow, keep: number): Promise<void> {
    // Deleted while the delivery ran: nothing to record it on.
    if (!(await this.prisma.projectWebhook.findUnique({ where: { id: webhookId }, select: { id: true } }))) return;
    await this.prisma.webhookDelivery.create({ data: { ...delivery, webhookId } });
    const cut = await this.prisma.webhookDelivery.findMany({ where: { webhookId }, orderBy: { id: "desc" }, skip: keep, take: 1, select: { id: true } });
    if (cut.length) await this.prisma.webhookDelivery.deleteMany({ where: { webhookId, id: { lte: cut[0].id } } });
  }

  async deliveries(webhookId: number, limit: number): Promise<DeliveryRow[]> {
    return this.prisma.webhookDelivery.findMany({
      where: { webhookId },
      orderBy: { id: "desc" },
      take: limit,
      select: { at: true, event: true, success: true, httpStatus: true, durationMs: true, error: true },
    });
  }
}

function flat(row: Omit<WebhookRow, "project"> & { project: { name: string } }): WebhookRow {
  return { ...row, project: row.project.name };
}
