import { timestamp } from '../common/text.js';

function systemFrame(event: 'join' | 'leave', userId: string): string {
  const verb = event === 'join' ? 'joined' : 'left';
  return JSON.stringify({
    type: 'system',
    event,
    user_id: userId,
    content: `User ${userId} ${verb} the chat`,
    timestamp: timestamp(),
  });
}

/** `{"type":"system","event":"join",...}` as the contract spells it. */
export const joinFrame = (userId: string) => systemFrame('join', userId);
/** `{"type":"system","event":"leave",...}` as the contract spells it. */
export const leaveFrame = (userId: string) => systemFrame('leave', userId);
