import type { DemoPartFactory } from '../part.js';
import { aksPart } from './aks.js';
import { apiserverPart } from './apiserver.js';
import { eksPart } from './eks.js';
import { falcoPart } from './falco.js';
import { gkePart } from './gke.js';
import { rulesPart } from './rules.js';
import { stdoutPart } from './stdout.js';

/** The demo's pieces, in start order. Each capability adds its own part here. */
export const demoParts: DemoPartFactory[] = [apiserverPart, gkePart, stdoutPart, falcoPart, rulesPart, eksPart, aksPart];
