// The DNS-1123 label: the shape of every name in the spec (app, services, nodes), as in Kubernetes.
import { z } from 'zod';

/** DNS-1123 label (as Kubernetes names): lowercase alphanumerics and '-', starts with a letter, ends alphanumeric. */
export const DNS_LABEL_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_LABEL_MESSAGE =
  "must be a DNS-1123 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit";

export const Label = z
  .string()
  .max(63, { message: 'must be at most 63 characters (a DNS-1123 label)' })
  .regex(DNS_LABEL_RE, { message: DNS_LABEL_MESSAGE });
