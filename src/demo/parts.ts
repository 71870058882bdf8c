import type { DemoPartFactory } from '../component/demo.js';
import { aksPart } from '../sources/aks/demo.js';
import { apiserverPart } from '../sources/webhook/demo.js';
import { eksPart } from '../sources/eks/demo.js';
import { falcoPart } from '../sinks/webhook/demo.js';
import { gkePart } from '../sources/gke/demo.js';
import { rulesPart } from '../sinks/rules/demo.js';
import { stdoutPart } from '../sinks/stdout/demo.js';

/** The demo's pieces, in start order. Each capability adds its own part here. */
export const demoParts: DemoPartFactory[] = [apiserverPart, gkePart, stdoutPart, falcoPart, rulesPart, eksPart, aksPart];
